// Moving in time during the live: the seek bar and the Live button over the player. A seek
// inside the live playlist's window is a seek in it (the viewer stays behind by choice until
// playback is back near the edge); an older moment switches to the DVR playlist there; the
// Live button (or a seek to the edge) returns to the low-latency live playlist. Where a seek
// goes and what the bar and the button say are dvr.js's pure functions; this module reads
// the player (position.js) and applies them.
//
// `player`: { S, video, dvrSource, log, switchView(view, position), jumpToLive() }, where
// switchView throws the current player away and plays `view` ('live' | 'dvr') from media
// position `position` (-1: the live edge). `els`: { seek, seekMarkers, live } (seek and
// seekMarkers optional).

import { bindSeekBar, fetchDvrPlaylist, liveButtonView, planSeek, playlistSpan, positionOf } from './dvr.js';
import { timeshiftEnds } from './latency.js';
import { behindSeconds, liveEdgeTime, liveWindowStart, programTime, seekPosition, targetLatency } from './position.js';

export const SPAN_REFRESH_MS = 30000; // the lecture's start is read again at most this often
// While it is unknown (a viewer who joined before the first segment was complete), it is
// tried again this often, this many times.
export const SPAN_RETRY_MS = 4000;
export const SPAN_RETRIES = 15;

// Returns { seekTo(programMs), goLive(), refreshSpan(force), update() }: update() redraws
// the seek bar and the Live button (every tick) and returns whether the viewer is behind.
export function bindTimeshift(player, els) {
  const { S, video, dvrSource, log } = player;

  // Reads the lecture's first program time from the DVR playlist (for the seek bar),
  // unless read less than SPAN_REFRESH_MS ago. Resolves to the playlist text or null.
  function refreshSpan(force) {
    const now = performance.now();
    const every = S.lectureStart == null ? SPAN_RETRY_MS : SPAN_REFRESH_MS;
    if (!force && now - S.spanReadAt < every) return Promise.resolve(null);
    S.spanReadAt = now;
    S.spanReads += 1;
    return fetchDvrPlaylist(dvrSource).then((text) => {
      const span = playlistSpan(text);
      if (span) S.lectureStart = span.start;
      return text;
    });
  }

  // Plays the DVR playlist from program time `at`.
  function playDvrAt(at) {
    const gen = S.generation;
    refreshSpan(true).then((text) => {
      if (gen !== S.generation) return;
      const position = positionOf(text, at);
      if (position == null) {
        log('no DVR playlist: staying live');
        return;
      }
      log('DVR from', new Date(at).toISOString(), '(position', position.toFixed(1), 's)');
      player.switchView('dvr', position);
    });
  }

  // Back to the live edge: the low-latency live playlist, at its hold-back.
  function goLive() {
    S.timeshift = false;
    if (S.view === 'live') {
      if (S.attached) player.jumpToLive();
      return;
    }
    log('back to the live playlist');
    player.switchView('live', -1);
  }

  // A seek chosen on the seek bar, in program time.
  function seekTo(target) {
    if (!S.attached) return;
    const t = programTime(S, video);
    const plan = planSeek({
      target,
      edge: liveEdgeTime(S, video, Date.now()),
      windowStart: liveWindowStart(S, video),
      start: S.lectureStart,
    });
    if (plan.view === 'live' && plan.at == null) {
      goLive();
      return;
    }
    if (S.view === 'live' && plan.view === 'dvr') {
      playDvrAt(plan.at);
      return;
    }
    // Inside what the current playlist holds: a seek in it.
    if (t == null) return;
    const to = seekPosition({ target: plan.at, current: video.currentTime, programMs: t, seekable: video.seekable });
    if (S.view === 'live') {
      S.timeshift = true;
      S.timeshiftAt = performance.now();
    }
    S.lastProgressAt = performance.now();
    video.currentTime = to;
  }

  const seekBar = els.seek ? bindSeekBar(els.seek, els.seekMarkers, seekTo) : { update() {}, busy: () => false };
  if (els.seek) {
    const fresh = () => refreshSpan(false);
    els.seek.addEventListener('focus', fresh);
    els.seek.addEventListener('pointerdown', fresh);
  }

  function update() {
    const edge = liveEdgeTime(S, video, Date.now());
    const position = programTime(S, video);
    const playing = S.attached && S.playedThisAttempt;
    if (playing && S.view === 'live' && S.lectureStart == null && S.spanReads < SPAN_RETRIES) refreshSpan(false);
    const start = S.lectureStart != null ? S.lectureStart : liveWindowStart(S, video);
    seekBar.update(playing ? { start, edge, position } : { start: null, edge: null, position: null });
    const behind = playing ? behindSeconds(edge, position) : null;
    if (
      S.view === 'live' &&
      S.timeshift &&
      timeshiftEnds({ behind, target: targetLatency(S), seeking: video.seeking, sinceMs: performance.now() - S.timeshiftAt })
    ) {
      S.timeshift = false;
    }
    const view = liveButtonView(behind);
    const live = els.live;
    if (live.textContent !== view.text) live.textContent = view.text;
    if (live.getAttribute('aria-label') !== view.label) live.setAttribute('aria-label', view.label);
    return view.behind;
  }

  return { seekTo, goLive, refreshSpan, update };
}
