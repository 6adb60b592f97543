// The latency policy: when the viewer is behind, when playback jumps to the live edge,
// and when hls.js's target latency returns to the server's hold-back after stalls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BEHIND_S,
  DEFAULT_TARGET_S,
  FAR_BEHIND_S,
  forgivenTarget,
  holdBackOf,
  jumpOnResume,
  latencyText,
  latencyVerdict,
  SMOOTH_PLAYBACK_MS,
  targetOr,
  timeshiftEnds,
  TIMESHIFT_SETTLE_MS,
} from '../src/player/latency.js';

test('the target is hls.js’s once known, else the default', () => {
  assert.equal(targetOr(1.2), 1.2);
  assert.equal(targetOr(null), DEFAULT_TARGET_S);
  assert.equal(targetOr(undefined), DEFAULT_TARGET_S);
  assert.equal(targetOr(0), DEFAULT_TARGET_S);
});

test('hold-back: PART-HOLD-BACK of a live playlist, else HOLD-BACK, else none', () => {
  assert.equal(holdBackOf({ live: true, partHoldBack: 1.002, holdBack: 6 }), 1.002);
  assert.equal(holdBackOf({ live: true, holdBack: 6 }), 6);
  assert.equal(holdBackOf({ live: true }), 0);
  assert.equal(holdBackOf({ live: false, partHoldBack: 1 }), 0);
  assert.equal(holdBackOf(undefined), 0);
});

test('stalls are forgiven after smooth playback, back to the server’s hold-back', () => {
  const base = { lastStallAt: 1000, lastProgressAt: 0, holdBack: 1.002, target: 2.36 };
  const at = (now, over = {}) => forgivenTarget({ ...base, now, lastProgressAt: now - 200, ...over });
  // Too soon after the stall.
  assert.equal(at(1000 + SMOOTH_PLAYBACK_MS - 1), null);
  // Long enough, and playback progresses: back to the hold-back.
  assert.equal(at(1000 + SMOOTH_PLAYBACK_MS), 1.002);
  // Playback is not progressing (paused, buffering): leave it.
  assert.equal(at(60000, { lastProgressAt: 60000 - 1001 }), null);
  // Already at (or within 50 ms of) the hold-back: nothing to do.
  assert.equal(at(60000, { target: 1.04 }), null);
  // Unknown hold-back or target.
  assert.equal(at(60000, { holdBack: 0 }), null);
  assert.equal(at(60000, { target: null }), null);
});

test('behind, then far behind: the Live button lights up, then playback jumps', () => {
  const v = (latency, paused = false) => latencyVerdict({ latency, target: 1, paused });
  assert.deepEqual(v(1 + BEHIND_S), { behind: false, jump: false });
  assert.deepEqual(v(1 + BEHIND_S + 0.1), { behind: true, jump: false });
  assert.deepEqual(v(1 + FAR_BEHIND_S + 0.1), { behind: true, jump: true });
  // Paused viewers are left where they are.
  assert.deepEqual(v(1 + FAR_BEHIND_S + 0.1, true), { behind: true, jump: false });
  assert.deepEqual(v(null), { behind: false, jump: false });
  // Without hls.js's target, the default applies.
  assert.equal(latencyVerdict({ latency: DEFAULT_TARGET_S + FAR_BEHIND_S + 0.1, target: null }).jump, true);
});

test('resuming from a pause jumps to live only when far behind', () => {
  assert.equal(jumpOnResume(1 + FAR_BEHIND_S + 0.5, 1), true);
  assert.equal(jumpOnResume(1 + FAR_BEHIND_S, 1), false);
  assert.equal(jumpOnResume(null, 1), false);
});

test('the latency display', () => {
  assert.equal(latencyText(1.234, null), 'Latency 1.2 s');
  assert.equal(latencyText(1.25, 2345), 'Latency 1.3 s · glass-to-glass 2.3 s');
  assert.equal(latencyText(null, 900), 'Latency – · glass-to-glass 0.9 s');
});

test('a seek back inside the live window ends only once settled and near the edge', () => {
  const settled = TIMESHIFT_SETTLE_MS + 1;
  // Just after the seek, the picture still shows the old position: not read yet.
  assert.equal(timeshiftEnds({ behind: 0.5, target: 1, seeking: false, sinceMs: 100 }), false);
  assert.equal(timeshiftEnds({ behind: 0.5, target: 1, seeking: true, sinceMs: settled }), false);
  // Settled: still far back stays; back near the edge ends it.
  assert.equal(timeshiftEnds({ behind: 11.9, target: 1, seeking: false, sinceMs: settled }), false);
  assert.equal(timeshiftEnds({ behind: 1.5, target: 1, seeking: false, sinceMs: settled }), true);
  assert.equal(timeshiftEnds({ behind: null, target: 1, seeking: false, sinceMs: settled }), false);
});

test('catch-up: faster only when behind the target with parts buffered ahead', async () => {
  const { catchUpRate, CATCH_UP_MAX_RATE } = await import('../src/player/latency.js');
  const base = { target: 0.6, partTarget: 0.2, rate: 1 };
  // On target, or nothing known: normal speed.
  assert.equal(catchUpRate({ ...base, latency: 0.62, forwardBuffer: 0.5 }), 1);
  assert.equal(catchUpRate({ ...base, latency: null, forwardBuffer: 0.5 }), 1);
  assert.equal(catchUpRate({ ...base, target: null, latency: 2, forwardBuffer: 2 }), 1);
  // Behind with room ahead: a little faster, more when further behind, never above the top.
  const near = catchUpRate({ ...base, latency: 0.8, forwardBuffer: 0.5 });
  const far = catchUpRate({ ...base, latency: 2.6, forwardBuffer: 2 });
  assert.ok(near > 1 && near < far, `${near} < ${far}`);
  assert.equal(far, CATCH_UP_MAX_RATE);
  // Behind but too little buffered ahead (under 1.5 parts): no risk of a stall.
  assert.equal(catchUpRate({ ...base, latency: 1.5, forwardBuffer: 0.25 }), 1);
  // Hysteresis: a catch-up under way goes on close to the target, not a fresh one.
  assert.equal(catchUpRate({ ...base, latency: 0.66, forwardBuffer: 0.5 }), 1);
  assert.ok(catchUpRate({ ...base, latency: 0.66, forwardBuffer: 0.5, rate: 1.05 }) > 1);
  assert.equal(catchUpRate({ ...base, latency: 0.62, forwardBuffer: 0.5, rate: 1.05 }), 1);
});
