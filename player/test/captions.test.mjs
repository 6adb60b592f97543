// Live subtitles loading: when hls.js is left waiting on a part chain that ended short
// of its fragment, and the catch-all watch that restarts a stalled subtitles loading.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PART_END_TOLERANCE_S, STALL_ADVANCES, partChainStalls, watchSubtitles } from '../src/player/captions.js';

const PART = 0.33333;

test('a part chain that ends short of its fragment, with nothing more listed, stalls', () => {
  // The open segment started at 8.011 s in the playlist the chain began with (two parts
  // listed); its second part, taken from a newer playlist aligned 6 ms earlier.
  const fragEnd = 8.011 + 2 * PART;
  const second = { start: 8.005 + PART, duration: PART };
  assert.equal(partChainStalls(second, fragEnd, false), true);
  // The next part is listed: the chain goes on, nothing to do.
  assert.equal(partChainStalls(second, fragEnd, true), false);
});

test('a part that reaches its fragment end (or passes it) does not stall', () => {
  const fragEnd = 8.011 + 2 * PART;
  // Same playlist: ends exactly where the fragment ends.
  assert.equal(partChainStalls({ start: 8.011 + PART, duration: PART }, fragEnd, false), false);
  // Aligned later in the newer playlist: ends after it.
  assert.equal(partChainStalls({ start: 8.016 + PART, duration: PART }, fragEnd, false), false);
  // Short by less than hls.js's tolerance.
  const short = { start: 8.011 + PART - PART_END_TOLERANCE_S / 2, duration: PART };
  assert.equal(partChainStalls(short, fragEnd, false), false);
  // A part ending before its fragment's last listed part: the chain goes on.
  assert.equal(partChainStalls({ start: 8.011, duration: PART }, fragEnd, true), false);
});

// Drives the watch with a sequence of inputs; returns the indices where it restarts.
function run(inputs) {
  let state = null;
  const restarts = [];
  inputs.forEach((input, i) => {
    const step = watchSubtitles(state, input);
    state = step.state;
    if (step.restart) restarts.push(i);
  });
  return restarts;
}

const playlist = (msn, part, extra = {}) => ({ kind: 'playlist', edge: [msn, part], live: true, showing: true, ...extra });
const loaded = { kind: 'loaded' };

test('parts loaded as the playlist advances: never restarted', () => {
  const inputs = [];
  for (let msn = 4; msn < 8; msn++) {
    for (let p = 0; p < 6; p++) inputs.push(playlist(msn, p), loaded);
  }
  assert.deepEqual(run(inputs), []);
});

test('the playlist advances part after part with nothing loaded: restarted after the limit, then again', () => {
  const inputs = [playlist(4, 1), loaded];
  for (let p = 2; p < 6; p++) inputs.push(playlist(4, p));
  for (let p = 0; p < 6; p++) inputs.push(playlist(5, p));
  const restarts = run(inputs);
  // The first restart after STALL_ADVANCES advances past the last load.
  assert.equal(restarts[0], 2 + STALL_ADVANCES - 1);
  // Still nothing loaded: once more every STALL_ADVANCES advances, not at every update.
  assert.equal(restarts[1] - restarts[0], STALL_ADVANCES);
  assert.equal(restarts.length, Math.floor((inputs.length - 2) / STALL_ADVANCES));
});

test('reloads that list nothing new, a later segment, and a new segment boundary', () => {
  // The same edge again (a reload answered with the same playlist) is no advance.
  const same = [playlist(4, 1), loaded, playlist(4, 1), playlist(4, 1), playlist(4, 1), playlist(4, 1)];
  assert.deepEqual(run(same), []);
  // A new segment with a lower part index is an advance.
  const boundary = [playlist(4, 5), loaded, playlist(5, 0), playlist(5, 1), playlist(5, 2)];
  assert.deepEqual(run(boundary), [4]);
});

test('captions off, paused, or a playlist that is not live: no restart, and the count starts again', () => {
  const off = [playlist(4, 0)];
  for (let p = 1; p < 6; p++) off.push(playlist(4, p, { showing: false }));
  assert.deepEqual(run(off), []);
  const ended = [playlist(4, 0)];
  for (let p = 1; p < 6; p++) ended.push(playlist(4, p, { live: false }));
  assert.deepEqual(run(ended), []);
  // Two advances, captions hidden once, two more advances: not yet a stall.
  const interrupted = [playlist(4, 0), playlist(4, 1), playlist(4, 2), playlist(4, 3, { showing: false }), playlist(4, 4), playlist(4, 5)];
  assert.deepEqual(run(interrupted), []);
});

test('a restart starts the count again', () => {
  const inputs = [playlist(4, 0), playlist(4, 1), playlist(4, 2), { kind: 'restarted' }, playlist(4, 3), playlist(4, 4), playlist(4, 5)];
  assert.deepEqual(run(inputs), [6]);
});
