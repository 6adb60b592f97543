// The player's state machine: watchdog transitions, stall and start timeouts, and the
// recovery policies for hls.js's fatal errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BUFFERING_AFTER_MS,
  enter,
  fatalAction,
  MAX_NETWORK_RETRIES,
  MEDIA_ERROR_WINDOW_MS,
  MESSAGES,
  mediaError,
  networkRetry,
  newMachine,
  resetAttempt,
  START_RELOAD_MS,
  STALL_RELOAD_MS,
  watchdog,
} from '../src/player/state.js';

// An attached machine at `now`, as after attach().
function attached(now) {
  const m = newMachine(now);
  m.attached = true;
  resetAttempt(m, now, 0);
  enter(m, 'loading');
  return m;
}

test('entering a state gives its message; the same state again is no change', () => {
  const m = newMachine(0);
  assert.equal(m.state, 'connecting');
  assert.deepEqual(enter(m, 'waiting'), { from: 'connecting', message: MESSAGES.waiting });
  assert.equal(enter(m, 'waiting'), null);
  // A text of its own is always shown, even in the same state.
  assert.deepEqual(enter(m, 'waiting', 'Soon'), { from: 'waiting', message: 'Soon' });
  assert.deepEqual(enter(m, 'playing'), { from: 'waiting', message: '' });
  assert.deepEqual(enter(m, 'error', 'No such event'), { from: 'playing', message: 'No such event' });
});

test('progress moves loading to playing once the video can play', () => {
  const m = attached(0);
  // Time moved but the video cannot play through yet.
  assert.deepEqual(watchdog(m, { now: 500, currentTime: 0.5, paused: false, readyState: 2 }), { state: null, reload: null });
  assert.equal(m.playedThisAttempt, true);
  assert.deepEqual(watchdog(m, { now: 1000, currentTime: 1.0, paused: false, readyState: 4 }), { state: 'playing', reload: null });
  enter(m, 'playing');
  // Progress resets the network retries.
  m.networkRetries = 2;
  watchdog(m, { now: 1500, currentTime: 1.5, paused: false, readyState: 4 });
  assert.equal(m.networkRetries, 0);
});

test('a stall shows buffering, then reloads', () => {
  const m = attached(0);
  watchdog(m, { now: 500, currentTime: 0.5, paused: false, readyState: 4 });
  enter(m, 'playing');
  const still = (now) => watchdog(m, { now, currentTime: 0.5, paused: false, readyState: 4 });
  assert.deepEqual(still(500 + BUFFERING_AFTER_MS), { state: null, reload: null });
  assert.deepEqual(still(500 + BUFFERING_AFTER_MS + 1), { state: 'buffering', reload: null });
  enter(m, 'buffering');
  assert.deepEqual(still(500 + STALL_RELOAD_MS), { state: null, reload: null });
  assert.deepEqual(still(500 + STALL_RELOAD_MS + 600), { state: null, reload: 'no progress for 5 s' });
});

test('before the first frame, the start timeout applies', () => {
  const m = attached(0);
  const still = (now) => watchdog(m, { now, currentTime: 0, paused: true, readyState: 0 });
  // Loading counts even while the video is paused (autoplay pending).
  assert.equal(still(STALL_RELOAD_MS + 1).reload, null);
  assert.equal(still(START_RELOAD_MS + 1).reload, 'no progress for 10 s');
});

test('a paused viewer or a detached player is never reloaded', () => {
  const m = attached(0);
  m.userPaused = true;
  assert.equal(watchdog(m, { now: 60000, currentTime: 0, paused: true, readyState: 4 }).reload, null);
  const d = newMachine(0);
  assert.equal(watchdog(d, { now: 60000, currentTime: 0, paused: false, readyState: 4 }).reload, null);
  // Paused (not by the viewer) outside loading: not a stall either.
  const p = attached(0);
  enter(p, 'playing');
  assert.equal(watchdog(p, { now: 60000, currentTime: 0, paused: true, readyState: 4 }).reload, null);
});

test('backwards time (a seek back, a new source) is not progress', () => {
  const m = attached(0);
  m.lastTime = 10;
  assert.deepEqual(watchdog(m, { now: 100, currentTime: 2, paused: false, readyState: 4 }), { state: null, reload: null });
  assert.equal(m.lastTime, 2);
  assert.equal(m.playedThisAttempt, false);
});

const types = { NETWORK_ERROR: 'networkError', MEDIA_ERROR: 'mediaError', OTHER_ERROR: 'otherError' };
const details = {
  MANIFEST_LOAD_ERROR: 'manifestLoadError',
  MANIFEST_LOAD_TIMEOUT: 'manifestLoadTimeOut',
  MANIFEST_PARSING_ERROR: 'manifestParsingError',
  FRAG_LOAD_ERROR: 'fragLoadError',
};

test('fatal errors: no stream reloads, other network errors retry, media errors recover', () => {
  const a = (type, d) => fatalAction({ type, details: d }, types, details);
  assert.equal(a(types.NETWORK_ERROR, details.MANIFEST_LOAD_ERROR), 'reload');
  assert.equal(a(types.NETWORK_ERROR, details.MANIFEST_LOAD_TIMEOUT), 'reload');
  assert.equal(a(types.NETWORK_ERROR, details.MANIFEST_PARSING_ERROR), 'reload');
  assert.equal(a(types.NETWORK_ERROR, details.FRAG_LOAD_ERROR), 'network');
  assert.equal(a(types.MEDIA_ERROR, 'bufferAppendError'), 'media');
  assert.equal(a(types.OTHER_ERROR, 'internalException'), 'reload');
});

test('network retries back off, then give up', () => {
  const m = newMachine(0);
  const delays = [];
  for (let i = 0; i < MAX_NETWORK_RETRIES; i++) delays.push(networkRetry(m));
  assert.deepEqual(delays, [1000, 2000, 4000]);
  assert.equal(networkRetry(m), null);
  assert.equal(m.recoveries, MAX_NETWORK_RETRIES);
});

test('media errors: recover, swap the audio codec, then reload; spaced ones start over', () => {
  const m = newMachine(0);
  assert.equal(mediaError(m, 20000), 'recover');
  assert.equal(mediaError(m, 21000), 'swap');
  assert.equal(mediaError(m, 22000), 'reload');
  assert.equal(m.recoveries, 2);
  assert.equal(mediaError(m, 22000 + MEDIA_ERROR_WINDOW_MS), 'recover');
});
