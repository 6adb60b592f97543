// What the player reports to the page's other scripts and to the browser tests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { playerStats } from '../src/player/qa-glue.js';

const measured = { latency: 1.5, pdtLatency: 2100, behind: 0.4 };

test('stats with hls.js: the level playing, the ladder and hls.js’s target', () => {
  const hls = { currentLevel: 1, levels: [{ height: 720 }, { height: 480 }], targetLatency: 1.002 };
  const S = { hls, state: 'playing', recoveries: 2, mode: 'hls', view: 'live', lectureStart: 5 };
  const video = { currentTime: 12, videoHeight: 480, paused: false, muted: true };
  assert.deepEqual(playerStats(S, video, measured), {
    currentTime: 12,
    latency: 1.5,
    pdtLatency: 2100,
    level: 1,
    height: 480,
    levels: [720, 480],
    state: 'playing',
    recoveries: 2,
    mode: 'hls',
    paused: false,
    muted: true,
    targetLatency: 1.002,
    view: 'live',
    behind: 0.4,
    lectureStart: 5,
  });
});

test('stats without hls.js: the video element’s height, no levels', () => {
  const S = { hls: null, state: 'loading', recoveries: 0, mode: 'native', view: 'live', lectureStart: null };
  const s = playerStats(S, { currentTime: 0, videoHeight: 0, paused: true, muted: false }, measured);
  assert.equal(s.level, -1);
  assert.equal(s.height, null);
  assert.deepEqual(s.levels, []);
  assert.equal(s.targetLatency, null);
  // hls.js before its first level is chosen.
  const early = playerStats({ ...S, hls: { currentLevel: -1, levels: [{ height: 720 }], targetLatency: 3 } }, { videoHeight: 720 }, measured);
  assert.equal(early.height, 720);
});
