// Chapters and markers (a moderator's chapters, answered questions) on the seek bar and
// in a chapters list under it.
//
// Where they come from: the media playlists carry them as EXT-X-DATERANGE (CLASS
// "org.amphi.marker", X-AMPHI-KIND "chapter" | "question", X-AMPHI-TEXT), dated on the
// EXT-X-PROGRAM-DATE-TIME clock; hls.js reads them into each level's details.dateRanges.
// A marker is listed by a live playlist only once the media reaches its program time, so
// every viewer gets it at the same moment of the lecture whatever their latency. The
// markers before the live window (a viewer who joins late) come once from
// GET /api/events/{event}/chapters, which caches share. Safari's native player does not
// hand its date ranges to the page in a portable way: without hls.js the list is read
// again from the API every API_REFRESH_MS (cacheable, so one origin request per edge).
//
// Times stay program times (ms since the epoch): the seek bar (dvr.js) places and seeks
// by program time, so no START-DATE is ever turned into one viewer's media time here.
// Everything from the playlists or the API is set with textContent.

import { el } from './dom.js';

export const MARKER_CLASS = 'org.amphi.marker';
// Without hls.js (native HLS), how often the chapters API is read again.
export const API_REFRESH_MS = 10000;

// [{ id, time, kind, label }] from hls.js's details.dateRanges (an object keyed by id,
// values with .id, .class, .startDate and .attr); anything else is left out.
export function markersFromDateRanges(dateRanges) {
  const out = [];
  if (!dateRanges || typeof dateRanges !== 'object') return out;
  for (const key of Object.keys(dateRanges)) {
    const r = dateRanges[key];
    if (!r || !r.attr) continue;
    const cls = r.class != null ? r.class : r.attr.CLASS;
    if (cls !== MARKER_CLASS) continue;
    const date = r.startDate instanceof Date ? r.startDate : new Date(r.attr['START-DATE']);
    const time = date.getTime();
    if (!Number.isFinite(time)) continue;
    const kind = r.attr['X-AMPHI-KIND'] === 'question' ? 'question' : 'chapter';
    out.push({ id: String(r.id || key), time, kind, label: String(r.attr['X-AMPHI-TEXT'] || ''), via: 'playlist' });
  }
  return out;
}

// The same from the API's JSON ({ chapters: [{ id, kind, text, program_time }] }).
export function markersFromApi(json) {
  const list = json && Array.isArray(json.chapters) ? json.chapters : [];
  return list
    .filter((c) => c && typeof c.id === 'string' && Number.isFinite(c.program_time))
    .map((c) => ({
      id: c.id,
      time: c.program_time,
      kind: c.kind === 'question' ? 'question' : 'chapter',
      label: String(c.text || ''),
      via: 'api',
    }));
}

// Merges `incoming` into `known` (a Map by id; a later text for an id replaces the
// earlier one; `via` says where a marker was first seen in a playlist, if it was);
// returns whether anything changed.
export function mergeMarkers(known, incoming) {
  let changed = false;
  for (const m of incoming) {
    const old = known.get(m.id);
    const via = old && old.via === 'playlist' ? 'playlist' : m.via;
    if (!old || old.time !== m.time || old.label !== m.label || old.kind !== m.kind || old.via !== via) {
      known.set(m.id, { ...m, via });
      changed = true;
    }
  }
  return changed;
}

// What the seek bar shows for a marker.
export function markerLabel(m) {
  return m.kind === 'question' ? 'Answered: ' + m.label : m.label;
}

// "14:05:09" in the viewer's time zone.
function clock(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
}

// Binds the chapters to the page: `setMarkers([{ time, label }])` draws them on the seek
// bar, `onSeek(programMs)` goes to one, `after` is the element the list follows.
// Returns { follow(hls, Hls), list() }: follow reads each new hls.js instance's date
// ranges. Exposes window.amphiChapters = { list() } for the page's other scripts.
export function setupChapters({ eventId, setMarkers, onSeek, after }) {
  const known = new Map();
  let listEl = null;
  let nav = null;
  // The embedded player is small: markers on its seek bar, no list.
  const embedded = document.body && document.body.classList.contains('embed');
  if (after && after.parentNode && !embedded) {
    nav = el('nav', 'chapters');
    nav.setAttribute('aria-labelledby', 'chapters-title');
    nav.hidden = true;
    const h = el('h2', 'chapters-title', 'Chapters');
    h.id = 'chapters-title';
    listEl = el('ol', 'chapters-list');
    listEl.id = 'chapters-list';
    nav.append(h, listEl);
    after.parentNode.insertBefore(nav, after.nextSibling);
  }

  const sorted = () => [...known.values()].sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : 1));

  function render() {
    const list = sorted();
    setMarkers(list.map((m) => ({ time: m.time, label: markerLabel(m) })));
    if (!listEl) return;
    listEl.textContent = '';
    for (const m of list) {
      const li = el('li', 'chapter chapter-' + m.kind);
      li.dataset.id = m.id;
      const b = el('button', 'chapter-seek');
      b.type = 'button';
      b.append(el('span', 'chapter-time', clock(m.time)), ' ', el('span', 'chapter-text', markerLabel(m)));
      b.setAttribute('aria-label', 'Go to ' + markerLabel(m) + ', at ' + clock(m.time));
      b.addEventListener('click', () => onSeek(m.time));
      li.append(b);
      listEl.append(li);
    }
    nav.hidden = list.length === 0;
  }

  function add(incoming) {
    if (mergeMarkers(known, incoming)) render();
  }

  const fromApi = () =>
    fetch('/api/events/' + encodeURIComponent(eventId) + '/chapters', { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : null))
      .then((json) => add(markersFromApi(json)))
      .catch(() => {});
  // Stopped by the first hls.js instance: from then on the playlists bring them.
  let refresh = null;
  if (eventId) {
    fromApi();
    refresh = setInterval(fromApi, API_REFRESH_MS);
  }

  window.amphiChapters = Object.freeze({ list: () => sorted().map((m) => ({ ...m })) });

  return {
    follow(hls, Hls) {
      clearInterval(refresh);
      refresh = null;
      const read = (event, data) => {
        if (data && data.details) add(markersFromDateRanges(data.details.dateRanges));
      };
      hls.on(Hls.Events.LEVEL_LOADED, read);
      hls.on(Hls.Events.LEVEL_UPDATED, read);
    },
    list: sorted,
  };
}
