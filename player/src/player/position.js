// Where playback is, read from the player: the program time of the frame on screen
// (EXT-X-PROGRAM-DATE-TIME, ms since the epoch), how far it is behind the live edge, where
// the live playlist's window starts, and the live edge's program time carried on the
// wall clock. Functions of the player's record `S` (hls, attached, view, playedThisAttempt,
// timeshift, replay, edgeSkew), the video element (anything with currentTime, seekable and,
// on Safari, getStartDate) and the wall clock `nowMs`: no DOM of their own, unit-tested in
// player/test/position.test.mjs.

import { targetOr } from './latency.js';

// The seekable range's first start and last end (s), or null when there is none.
export function seekableRange(seekable) {
  if (!seekable || !seekable.length) return null;
  return { first: seekable.start(0), last: seekable.end(seekable.length - 1) };
}

// Program time of the frame on screen (ms), or null: hls.js's playingDate, or on Safari the
// stream's start date plus the media position.
export function programTime(S, video) {
  let date = null;
  if (S.hls) date = S.hls.playingDate;
  else if (S.attached && typeof video.getStartDate === 'function') {
    const start = video.getStartDate().getTime();
    if (Number.isFinite(start)) date = new Date(start + video.currentTime * 1000);
  }
  return date && Number.isFinite(date.getTime()) ? date.getTime() : null;
}

// The latency the viewer is held to (s): hls.js's target once known, else the default.
export function targetLatency(S) {
  return targetOr(S.hls && S.hls.targetLatency);
}

// Wall clock minus the program time on screen (ms): glass-to-glass, as far as the
// publisher's clock and ours agree.
export function pdtLatencyMs(S, video, nowMs) {
  const t = programTime(S, video);
  return t != null ? nowMs - t : null;
}

// How far behind the live edge playback is (s): hls.js's latency, or the distance to the
// end of the seekable range; null when nothing is attached.
export function latencySeconds(S, video) {
  if (S.hls) return S.hls.latency;
  const range = S.attached ? seekableRange(video.seekable) : null;
  return range ? Math.max(0, range.last - video.currentTime) : null;
}

// Program time at the live edge now (ms): measured while the live playlist plays (the frame
// on screen plus the latency; kept in S.edgeSkew), then carried on the wall clock, so it
// holds while the DVR playlist plays and whatever the viewer's clock says.
export function liveEdgeTime(S, video, nowMs) {
  if (S.view === 'live' && S.attached && S.playedThisAttempt) {
    const t = programTime(S, video);
    const lat = latencySeconds(S, video);
    if (t != null && lat != null) S.edgeSkew = nowMs - (t + lat * 1000);
  }
  return S.edgeSkew == null ? null : nowMs - S.edgeSkew;
}

// Program time of the first segment the live playlist lists (its window), if known. With
// hls.js it is read from the playlist itself: the seekable range also holds the back
// buffer hls.js keeps (hls-config.js), which reaches further back than the window. On
// Safari the seekable range is the window.
export function liveWindowStart(S, video) {
  const t = programTime(S, video);
  if (S.view !== 'live' || t == null) return null;
  if (S.hls) return playlistWindowStart(S.hls, video.currentTime, t);
  const range = seekableRange(video.seekable);
  return range ? programTimeAt(range.first, video.currentTime, t) : null;
}

// The program time of hls.js's current live playlist's first segment (ms): its
// EXT-X-PROGRAM-DATE-TIME, else its media position against the frame on screen (`current`
// media position, `programMs` its program time); null before a playlist is loaded.
function playlistWindowStart(hls, current, programMs) {
  const details = hls.latestLevelDetails;
  const first = details && details.fragments && details.fragments[0];
  if (!first) return null;
  if (Number.isFinite(first.programDateTime)) return first.programDateTime;
  return Number.isFinite(first.start) ? programTimeAt(first.start, current, programMs) : null;
}

// The program time (ms) of media position `position`, from the frame on screen (`current`
// media position, `programMs` its program time).
function programTimeAt(position, current, programMs) {
  return programMs - (current - position) * 1000;
}

// Program time on screen minus the media position (ms), while the live playlist plays with
// hls.js: where pushed captions go on the media timeline.
export function programOffsetMs(S, video) {
  if (!S.hls || S.view !== 'live') return null;
  const d = S.hls.playingDate;
  const t = d ? d.getTime() : NaN;
  return Number.isFinite(t) ? t - video.currentTime * 1000 : null;
}

// How far the frame at program time `position` is behind the live edge `edge` (s).
export function behindSeconds(edge, position) {
  return edge != null && position != null ? Math.max(0, (edge - position) / 1000) : null;
}

// Whether the player holds the viewer at the live edge: not when behind by choice (the seek
// bar, the DVR playlist), nor on the replay of an ended lecture.
export function followsLiveEdge(S) {
  return S.view === 'live' && !S.timeshift && !S.replay;
}

// Where a jump to the live edge goes (media position, s): hls.js's live sync position, else
// 3 s before the end of the seekable range; null when neither is known.
export function liveSyncPosition(S, video) {
  if (S.hls && S.hls.liveSyncPosition != null) return S.hls.liveSyncPosition;
  const range = seekableRange(video.seekable);
  return range ? Math.max(0, range.last - 3) : null;
}

// The media position (s) of program time `target`, from the frame on screen (`current`
// media position, `programMs` its program time), kept inside the seekable range.
export function seekPosition({ target, current, programMs, seekable }) {
  const to = current + (target - programMs) / 1000;
  const range = seekableRange(seekable);
  return range ? Math.min(range.last, Math.max(range.first, to)) : to;
}
