// Where playback is in program time: read from hls.js or from the native video element,
// the live edge carried on the wall clock, and where a seek or a jump to live goes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TARGET_S } from '../src/player/latency.js';
import {
  behindSeconds,
  followsLiveEdge,
  latencySeconds,
  liveEdgeTime,
  liveSyncPosition,
  liveWindowStart,
  pdtLatencyMs,
  programOffsetMs,
  programTime,
  seekableRange,
  seekPosition,
  targetLatency,
} from '../src/player/position.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');

// A TimeRanges of [start, end] pairs.
const ranges = (...pairs) => ({ length: pairs.length, start: (i) => pairs[i][0], end: (i) => pairs[i][1] });

// A video element at `currentTime` with a seekable range, optionally Safari's start date.
function video(currentTime, seekable = ranges(), startDate = null) {
  const v = { currentTime, seekable };
  if (startDate != null) v.getStartDate = () => new Date(startDate);
  return v;
}

// The player's record as main.js keeps it.
function record(over = {}) {
  return { hls: null, attached: true, view: 'live', playedThisAttempt: true, timeshift: false, replay: false, edgeSkew: null, ...over };
}

test('the seekable range: first start, last end', () => {
  assert.deepEqual(seekableRange(ranges([2, 10], [12, 40])), { first: 2, last: 40 });
  assert.equal(seekableRange(ranges()), null);
  assert.equal(seekableRange(undefined), null);
});

test('program time on screen: hls.js’s playing date, else Safari’s start date plus the position', () => {
  const hls = { playingDate: new Date(T0 + 500) };
  assert.equal(programTime(record({ hls }), video(99)), T0 + 500);
  assert.equal(programTime(record({ hls: { playingDate: null } }), video(0)), null);
  assert.equal(programTime(record({ hls: { playingDate: new Date(NaN) } }), video(0)), null);
  // Native: the stream's start date plus currentTime.
  assert.equal(programTime(record(), video(12.5, ranges(), T0)), T0 + 12500);
  assert.equal(programTime(record(), video(1, ranges(), NaN)), null);
  // Nothing attached, or no start date: unknown.
  assert.equal(programTime(record({ attached: false }), video(1, ranges(), T0)), null);
  assert.equal(programTime(record(), video(1)), null);
  // Glass-to-glass: the wall clock minus it.
  assert.equal(pdtLatencyMs(record({ hls }), video(0), T0 + 2500), 2000);
  assert.equal(pdtLatencyMs(record(), video(0), T0), null);
});

test('latency: hls.js’s, else the distance to the end of the seekable range', () => {
  assert.equal(latencySeconds(record({ hls: { latency: 1.4 } }), video(0)), 1.4);
  assert.equal(latencySeconds(record(), video(37, ranges([0, 10], [20, 40]))), 3);
  assert.equal(latencySeconds(record(), video(41, ranges([0, 40]))), 0);
  assert.equal(latencySeconds(record(), video(5)), null);
  assert.equal(latencySeconds(record({ attached: false }), video(5, ranges([0, 40]))), null);
});

test('the live edge is measured while the live playlist plays, then carried on the wall clock', () => {
  const S = record({ hls: { playingDate: new Date(T0), latency: 2 } });
  // On screen T0, 2 s behind: the edge is T0 + 2 s, and the skew is kept.
  assert.equal(liveEdgeTime(S, video(0), T0 + 5000), T0 + 2000);
  assert.equal(S.edgeSkew, 3000);
  // The DVR playlist plays: no new measure, the edge moves with the wall clock.
  S.view = 'dvr';
  S.hls = { playingDate: new Date(T0 - 600000), latency: 600 };
  assert.equal(liveEdgeTime(S, video(0), T0 + 15000), T0 + 12000);
  // Never measured: unknown.
  assert.equal(liveEdgeTime(record({ playedThisAttempt: false }), video(0), T0), null);
  // How far behind it a frame is (s), never negative.
  assert.equal(behindSeconds(T0 + 12000, T0), 12);
  assert.equal(behindSeconds(T0, T0 + 500), 0);
  assert.equal(behindSeconds(null, T0), null);
  assert.equal(behindSeconds(T0, null), null);
});

test('the live window’s start and the program offset of the media timeline', () => {
  const playingDate = new Date(T0 + 30000);
  // hls.js: the playlist's first segment, whatever the back buffer adds to the seekable
  // range (here from media position 0).
  const withPdt = { playingDate, latestLevelDetails: { fragments: [{ start: 6, programDateTime: T0 + 6000 }] } };
  assert.equal(liveWindowStart(record({ hls: withPdt }), video(30, ranges([0, 32]))), T0 + 6000);
  // Without a program date: 30 s into a window that starts at media position 6, its first
  // segment is 24 s earlier than the frame on screen.
  const noPdt = { playingDate, latestLevelDetails: { fragments: [{ start: 6, programDateTime: null }] } };
  assert.equal(liveWindowStart(record({ hls: noPdt }), video(30, ranges([0, 32]))), T0 + 6000);
  assert.equal(liveWindowStart(record({ hls: withPdt, view: 'dvr' }), video(30, ranges([6, 32]))), null);
  assert.equal(liveWindowStart(record({ hls: { playingDate, latestLevelDetails: null } }), video(30, ranges([6, 32]))), null);
  // Safari (no hls.js): the seekable range is the window.
  const safari = video(30, ranges([6, 32]), T0);
  assert.equal(liveWindowStart(record(), safari), T0 + 6000);
  assert.equal(liveWindowStart(record(), video(30, ranges(), T0)), null);
  // Program time minus the media position, only for hls.js on the live playlist.
  assert.equal(programOffsetMs(record({ hls: withPdt }), video(30)), T0);
  assert.equal(programOffsetMs(record({ hls: withPdt, view: 'dvr' }), video(30)), null);
  assert.equal(programOffsetMs(record({ hls: { playingDate: null } }), video(30)), null);
  assert.equal(programOffsetMs(record(), video(30)), null);
});

test('the live edge is followed only on the live playlist, not behind by choice nor on the replay', () => {
  assert.equal(followsLiveEdge(record()), true);
  assert.equal(followsLiveEdge(record({ view: 'dvr' })), false);
  assert.equal(followsLiveEdge(record({ timeshift: true })), false);
  assert.equal(followsLiveEdge(record({ replay: true })), false);
  assert.equal(targetLatency(record({ hls: { targetLatency: 1.2 } })), 1.2);
  assert.equal(targetLatency(record()), DEFAULT_TARGET_S);
});

test('a jump to live goes to hls.js’s sync position, else 3 s before the end of the seekable range', () => {
  assert.equal(liveSyncPosition(record({ hls: { liveSyncPosition: 41.5 } }), video(0, ranges([0, 60]))), 41.5);
  assert.equal(liveSyncPosition(record({ hls: { liveSyncPosition: null } }), video(0, ranges([0, 60]))), 57);
  assert.equal(liveSyncPosition(record(), video(0, ranges([0, 2]))), 0);
  assert.equal(liveSyncPosition(record(), video(0)), null);
});

test('a seek in the playing playlist: from the frame on screen, kept inside the seekable range', () => {
  const at = (target, seekable) => seekPosition({ target, current: 50, programMs: T0, seekable });
  assert.equal(at(T0 - 10000, ranges([0, 60])), 40);
  assert.equal(at(T0 - 90000, ranges([6, 60])), 6);
  assert.equal(at(T0 + 30000, ranges([6, 60])), 60);
  assert.equal(at(T0 + 30000, ranges()), 80);
});
