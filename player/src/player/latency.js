// Latency policy: how far behind live the viewer may fall, when to jump back to the live
// edge, and when hls.js's target latency returns to the server's hold-back after stalls.
// Pure functions of numbers (times in ms from performance.now(), latencies in s): no DOM,
// no hls.js, unit-tested in player/test/latency.test.mjs.

export const FAR_BEHIND_S = 6; // seconds beyond the target latency after which we jump to live
export const BEHIND_S = 2; // seconds beyond the target latency shown as "behind" on the Live button
export const SMOOTH_PLAYBACK_MS = 15000; // without a stall, before hls.js's target latency is reset
export const DEFAULT_TARGET_S = 3; // target latency before hls.js knows the server's
// After a stall hls.js moves its target latency back by this much (one part, not its
// default second); `forgivenTarget` returns to the server's hold-back later.
export const STALL_INCREASE_S = 0.34;

// Catching up to the target latency. hls.js speeds playback up only with more than a
// second buffered ahead, which a viewer held a few parts behind the edge never has: it
// stays wherever it started (up to a GOP behind its target, since playback starts on an
// independent part). The player takes the playback rate over instead: a little faster
// while it is behind its target and has more than CATCH_UP_MIN_BUFFER_PARTS parts
// buffered ahead, back to normal speed within CATCH_UP_DONE_S of the target.
export const CATCH_UP_MAX_RATE = 1.25;
export const CATCH_UP_START_S = 0.1; // behind the target by more than this: catch up
export const CATCH_UP_DONE_S = 0.03; // within this of the target: normal speed
export const CATCH_UP_MIN_BUFFER_PARTS = 1.5;

// The playback rate for a live viewer (1 when not catching up). `rate` is the current
// one (hysteresis: a catch-up goes on down to CATCH_UP_DONE_S); `partTarget` in s.
export function catchUpRate({ latency, target, forwardBuffer, partTarget, rate }) {
  if (latency == null || !target || forwardBuffer == null) return 1;
  const behind = latency - target;
  const minBuffer = CATCH_UP_MIN_BUFFER_PARTS * (partTarget || 1);
  const catching = rate > 1;
  if (forwardBuffer <= minBuffer || behind <= (catching ? CATCH_UP_DONE_S : CATCH_UP_START_S)) return 1;
  // Proportional, rounded to 0.05: a second behind plays at the top rate.
  const r = Math.round((1 + behind * (CATCH_UP_MAX_RATE - 1)) * 20) / 20;
  return Math.min(CATCH_UP_MAX_RATE, Math.max(1.05, r));
}

// The target latency the viewer is held to: hls.js's once known, else a default.
export function targetOr(target) {
  return target || DEFAULT_TARGET_S;
}

// The server's hold-back of a live media playlist (hls.js level details): PART-HOLD-BACK
// for LL-HLS, else HOLD-BACK; 0 when unknown or not live.
export function holdBackOf(details) {
  return details && details.live ? details.partHoldBack || details.holdBack || 0 : 0;
}

// hls.js moves its target latency back after every stall and never forward again.
// After SMOOTH_PLAYBACK_MS without a stall, while playback progresses, the target returns
// to the server's hold-back: a stall when joining in the first second of a lecture, or a
// moment of bad network, should not keep the viewer behind for the rest of the lecture.
// Returns the new target (s), or null to leave it.
export function forgivenTarget({ now, lastStallAt, lastProgressAt, holdBack, target }) {
  if (now - lastStallAt < SMOOTH_PLAYBACK_MS || now - lastProgressAt > 1000) return null;
  if (holdBack > 0 && target != null && target > holdBack + 0.05) return holdBack;
  return null;
}

// While playing: is the viewer visibly behind (the Live button says so), and so far
// behind that playback jumps to the live edge?
export function latencyVerdict({ latency, target, paused }) {
  const t = targetOr(target);
  return {
    behind: latency != null && latency > t + BEHIND_S,
    jump: !paused && latency != null && latency > t + FAR_BEHIND_S,
  };
}

// A viewer who seeked back inside the live window stays there (no jump to live) until
// playback is back near the edge. Read only once the seek has settled: while the video
// seeks, and for TIMESHIFT_SETTLE_MS after the seek was asked, the frame on screen and
// hls.js's latency can still describe the position before it.
export const TIMESHIFT_SETTLE_MS = 3000;
export function timeshiftEnds({ behind, target, seeking, sinceMs }) {
  if (seeking || sinceMs < TIMESHIFT_SETTLE_MS || behind == null) return false;
  return behind < 1 + targetOr(target);
}

// Back from a pause on a live stream: resume at the live edge if far behind.
export function jumpOnResume(latency, target) {
  return latency != null && latency > targetOr(target) + FAR_BEHIND_S;
}

// The latency display: hls.js's latency behind the live edge and glass-to-glass
// (wall clock minus the program date-time of the frame on screen), when known.
export function latencyText(latency, pdtMs) {
  let text = 'Latency ' + (latency ? latency.toFixed(1) + ' s' : '–');
  if (pdtMs != null) text += ' · glass-to-glass ' + (pdtMs / 1000).toFixed(1) + ' s';
  return text;
}
