// DVR during the live: the seek bar over the whole lecture so far, the "Live" button's
// "behind by" text, and where a seek goes: a moment still in the low-latency live
// playlist's window is a seek in it; an older one switches to the DVR playlist
// (/live/{event}/dvr.m3u8, every segment of the lecture so far, EVENT type) at that
// moment; the live edge switches back to the live playlist.
//
// Times on the seek bar are program times (ms since the epoch, EXT-X-PROGRAM-DATE-TIME),
// so a marker or a question lands at the same moment of the lecture for every viewer
// whatever their own latency or playlist. Pure functions, plus one small view
// (bindSeekBar) over the page's <input type="range">; unit-tested in
// player/test/dvr.test.mjs.

import { fetchFirstMedia } from './playlists.js';

// Closer than this to the live edge is "at live": the Live button shows no delay.
export const AT_LIVE_S = 5;
// A seek to less than this before the start of the live playlist's window goes to the DVR
// playlist: the window slides by a segment every 2 s while the player loads.
export const WINDOW_MARGIN_S = 6;
// Arrow keys move the seek bar by this much, Page Up/Down by BIG_STEP_S.
export const STEP_S = 10;
export const BIG_STEP_S = 60;
// Keyboard and dragging settle this long before the player seeks.
export const SEEK_SETTLE_MS = 400;

// The DVR multivariant playlist beside a live one (same token path, same origin).
export function dvrUrl(liveUrl) {
  if (!liveUrl) return null;
  return liveUrl.replace(/\/master\.m3u8(?=$|[?#])/, '/dvr.m3u8');
}

// 62 → "1:02", 3723 → "1:02:03" (whole seconds, rounded down; negatives as 0).
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

// "1 minute 2 seconds" for screen readers.
export function spokenDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const parts = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const unit = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (h) parts.push(unit(h, 'hour'));
  if (m) parts.push(unit(m, 'minute'));
  if (sec || parts.length === 0) parts.push(unit(sec, 'second'));
  return parts.join(' ');
}

// What the Live button says, from how far the frame on screen is behind the live edge
// (s; null when unknown): at live, "Live"; behind, "Live −1:02" and a label that begins
// with the visible text (WCAG 2.5.3) and says what a click does.
export function liveButtonView(behindS) {
  if (behindS == null || !Number.isFinite(behindS) || behindS < AT_LIVE_S) {
    return { behind: false, text: 'Live', label: 'Live: playing at the live edge' };
  }
  const clock = formatClock(behindS);
  return {
    behind: true,
    text: `Live \u2212${clock}`,
    label: `Live \u2212${clock}: ${spokenDuration(behindS)} behind, go back to live`,
  };
}

// Where a seek to program time `target` goes.
// - `edge`: program time at the live edge now;
// - `windowStart`: program time of the live playlist's first segment (null if unknown);
// - `start`: program time of the lecture's first recorded segment (null if unknown).
// Returns { view: 'live' } (back to the live edge), { view: 'live', at } (a seek inside
// the live window) or { view: 'dvr', at } (the DVR playlist at `at`).
export function planSeek({ target, edge, windowStart, start }) {
  if (!Number.isFinite(target) || !Number.isFinite(edge)) return { view: 'live' };
  if (target >= edge - AT_LIVE_S * 1000) return { view: 'live' };
  const at = Number.isFinite(start) ? Math.max(start, target) : target;
  if (Number.isFinite(windowStart) && at >= windowStart + WINDOW_MARGIN_S * 1000) return { view: 'live', at };
  return { view: 'dvr', at };
}

// The seek bar's range and value (whole seconds from the lecture's start) and its
// spoken value, for program times `start`, `edge` and `position` (ms).
export function seekBarView({ start, edge, position }) {
  if (![start, edge].every(Number.isFinite) || edge <= start) return null;
  const max = Math.max(1, Math.round((edge - start) / 1000));
  const pos = Number.isFinite(position) ? Math.min(max, Math.max(0, Math.round((position - start) / 1000))) : max;
  const behind = max - pos;
  const valueText =
    `${formatClock(pos)} of ${formatClock(max)}` + (behind >= AT_LIVE_S ? `, ${formatClock(behind)} behind live` : ', live');
  return { max, value: pos, valueText };
}

// The first and last program times of a media playlist (ms): the first segment's
// EXT-X-PROGRAM-DATE-TIME and the end of the last complete segment. null if absent.
export function playlistSpan(text) {
  let first = null;
  let pdt = null;
  let end = null;
  let pending = null;
  for (const raw of String(text || '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      const t = Date.parse(line.slice(25));
      if (Number.isFinite(t)) {
        pdt = t;
        if (first == null) first = t;
      }
    } else if (line.startsWith('#EXTINF:')) {
      pending = parseFloat(line.slice(8));
    } else if (line && !line.startsWith('#') && pending != null && pdt != null) {
      end = pdt + pending * 1000;
      pdt = end;
      pending = null;
    }
  }
  return first == null ? null : { start: first, end };
}

// The media position (s from the playlist's first segment, as hls.js and Safari count
// it) of program time `programMs` in a media playlist: the segment that holds it, plus
// the time into it. Clamped to the listed segments; null when nothing is dated.
export function positionOf(text, programMs) {
  let position = 0;
  let pdt = null;
  let pending = null;
  let last = null;
  for (const raw of String(text || '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      const t = Date.parse(line.slice(25));
      if (Number.isFinite(t)) pdt = t;
    } else if (line.startsWith('#EXTINF:')) {
      pending = parseFloat(line.slice(8));
    } else if (line && !line.startsWith('#') && pending != null) {
      if (pdt != null) {
        // Before this segment (a gap between sessions, or before the first): its start.
        if (programMs < pdt) return position;
        if (programMs < pdt + pending * 1000) return position + (programMs - pdt) / 1000;
        last = position + pending;
        pdt += pending * 1000;
      }
      position += pending;
      pending = null;
    }
  }
  return last;
}

// The first media playlist of the DVR multivariant playlist (its text), or null when
// there is none (yet).
export function fetchDvrPlaylist(dvrMasterUrl) {
  return fetchFirstMedia(dvrMasterUrl, { cache: 'no-cache' });
}

// ---------------------------------------------------------------- markers

// Markers on the seek bar (chapters, answered questions): [{ time, label }] with `time`
// a program time (ms since the epoch, a Date or an ISO string). Kept here so a caller
// can set them before or after the seek bar exists; the bound bar redraws them.
let markers = [];
let redraw = null;

export function toProgramMs(time) {
  if (time instanceof Date) return time.getTime();
  if (typeof time === 'number') return time;
  if (typeof time === 'string') return Date.parse(time);
  return NaN;
}

export function setMarkers(list) {
  markers = (Array.isArray(list) ? list : [])
    .map((m) => ({ time: toProgramMs(m && m.time), label: String((m && m.label) || '') }))
    .filter((m) => Number.isFinite(m.time))
    .sort((a, b) => a.time - b.time);
  if (redraw) redraw();
}

export function getMarkers() {
  return markers.slice();
}

// Percent positions of the markers inside [start, edge]; those outside are left out.
export function markerPositions(list, start, edge) {
  if (![start, edge].every(Number.isFinite) || edge <= start) return [];
  return list
    .filter((m) => m.time >= start && m.time <= edge)
    .map((m) => ({ ...m, percent: ((m.time - start) / (edge - start)) * 100 }));
}

// ---------------------------------------------------------------- the seek bar

// Binds the page's range input (and an optional markers layer) to the player.
// `onSeek(programMs)` is called once a drag or key presses settle. Returns
// { update({ start, edge, position }), busy() }: update redraws the bar (not while
// the viewer is dragging it), busy says whether a seek is being chosen.
export function bindSeekBar(input, markersEl, onSeek) {
  let span = null; // { start, edge } of the last update
  let dragging = false;
  let settle = null;
  const commit = () => {
    clearTimeout(settle);
    settle = setTimeout(() => {
      settle = null;
      dragging = false;
      if (span) onSeek(span.start + Number(input.value) * 1000);
    }, SEEK_SETTLE_MS);
  };
  input.addEventListener('pointerdown', () => {
    dragging = true;
  });
  input.addEventListener('input', () => {
    dragging = true;
  });
  input.addEventListener('change', commit);
  input.addEventListener('keydown', (e) => {
    const max = Number(input.max) || 0;
    const v = Number(input.value) || 0;
    const to = {
      ArrowLeft: v - STEP_S,
      ArrowDown: v - STEP_S,
      ArrowRight: v + STEP_S,
      ArrowUp: v + STEP_S,
      PageDown: v - BIG_STEP_S,
      PageUp: v + BIG_STEP_S,
      Home: 0,
      End: max,
    }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    dragging = true;
    input.value = String(Math.min(max, Math.max(0, to)));
    const view = span && seekBarView({ ...span, position: span.start + Number(input.value) * 1000 });
    if (view) input.setAttribute('aria-valuetext', view.valueText);
    commit();
  });

  let drawn = null; // the span the markers were last drawn for
  const drawMarkers = () => {
    if (!markersEl) return;
    markersEl.textContent = '';
    drawn = span;
    if (!span) return;
    for (const m of markerPositions(markers, span.start, span.edge)) {
      const dot = document.createElement('span');
      dot.className = 'seek-marker';
      dot.style.left = m.percent.toFixed(3) + '%';
      dot.title = m.label;
      markersEl.appendChild(dot);
    }
  };
  redraw = drawMarkers;

  return {
    update({ start, edge, position }) {
      const view = seekBarView({ start, edge, position });
      input.disabled = !view;
      if (!view) {
        span = null;
        drawMarkers();
        return;
      }
      span = { start, edge };
      const moved = !drawn || Math.abs(drawn.start - start) > 1000 || Math.abs(drawn.edge - edge) > 2000;
      if (dragging) return;
      input.max = String(view.max);
      input.value = String(view.value);
      input.setAttribute('aria-valuetext', view.valueText);
      if (moved) drawMarkers();
    },
    busy: () => dragging,
  };
}
