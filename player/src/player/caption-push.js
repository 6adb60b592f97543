// Live captions pushed by the origin: one server-sent events stream per viewer,
// /live/{event}/[t/{token}/]captions/events, instead of hls.js reloading the subtitles
// playlist and fetching a WebVTT part for every LL-HLS part (about twelve requests per
// segment). Each event is one cue, { start, end, text }, in program time (ms on the
// EXT-X-PROGRAM-DATE-TIME clock), text as plain text. The stream starts with the last
// ~30 s of cues, so a reconnect (the browser's own, after a drop) fills any gap; cues
// already known are dropped.
//
// Cues go on the player's own text track ("captions" kind, labelled as the stream's
// subtitles rendition), at the media time hls.js plays their program time: media time =
// (program time − offset) / 1000, the offset being the program time on screen minus the
// position (hls.js playingDate and currentTime), as chapters and the seek bar read
// program time. When the offset moves (a discontinuity, a new hls.js instance), every
// cue is placed again.

// Cues kept (program time behind the frame on screen), and at most.
export const KEEP_BEHIND_MS = 60000;
export const MAX_CUES = 500;
// The offset may wander by a frame or two as fragments change; beyond this, re-place.
export const REMAP_MS = 250;
export const MAX_TEXT = 2000;

// The stream's URL from the live playlist's (the viewer token path segment kept).
export function captionsStreamUrl(liveUrl) {
  if (!liveUrl) return null;
  const out = liveUrl.replace(/\/master\.m3u8(?=$|[?#])/, '/captions/events');
  return out === liveUrl ? null : out;
}

// A pushed cue from an event's data, or null when it is not one.
export function parseCue(data) {
  let c;
  try {
    c = JSON.parse(data);
  } catch (_) {
    return null;
  }
  if (!c || !Number.isFinite(c.start) || !Number.isFinite(c.end) || typeof c.text !== 'string') return null;
  if (c.end <= c.start || c.text.trim() === '') return null;
  return { start: c.start, end: c.end, text: c.text.slice(0, MAX_TEXT) };
}

export function cueKey(c) {
  return c.start + '|' + c.end + '|' + c.text;
}

// Cue text for a VTTCue: the browser reads it as WebVTT cue text, so markup is escaped.
export function cueText(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// [startS, endS] in media time for a cue, given the offset (program ms − media ms).
export function mediaSpan(cue, offsetMs) {
  return [(cue.start - offsetMs) / 1000, (cue.end - offsetMs) / 1000];
}

// The cues worth keeping: not ended more than KEEP_BEHIND_MS before `nowMs` (program
// time on screen), the newest MAX_CUES. `cues` is in arrival order.
export function keptCues(cues, nowMs) {
  const fresh = nowMs == null ? cues : cues.filter((c) => c.end >= nowMs - KEEP_BEHIND_MS);
  return fresh.length > MAX_CUES ? fresh.slice(fresh.length - MAX_CUES) : fresh;
}

// Binds the push to `video`: returns { start(url, offset), stop(), track(), active() }.
// `offset()` gives the current offset (program ms − media ms) or null while unknown;
// `onFail()` is called when the stream is refused for good (then hls.js's subtitles
// are used); `log` gets one line per connection change.
export function captionPush(video, { label, language, onFail = () => {}, log = () => {} }) {
  let track = null;
  let source = null;
  let sourceUrl = null;
  let offsetFn = () => null;
  let placedOffset = null;
  // { cue, vtt } in arrival order; vtt is null until placed.
  let cues = [];
  const keys = new Set();

  const ensureTrack = () => {
    if (!track) track = video.addTextTrack('captions', label(), language());
    return track;
  };

  const removeCue = (c) => {
    if (c.vtt && track) {
      try {
        track.removeCue(c.vtt);
      } catch (_) {
        /* already gone */
      }
    }
    c.vtt = null;
  };
  const clearPlaced = () => cues.forEach(removeCue);

  // Places unplaced cues; all again when the offset moved; drops old ones.
  const place = () => {
    if (!track) return;
    const offset = offsetFn();
    if (offset == null) return;
    if (placedOffset != null && Math.abs(offset - placedOffset) > REMAP_MS) clearPlaced();
    placedOffset = offset;
    const now = offset + video.currentTime * 1000;
    const kept = new Set(keptCues(cues.map((c) => c.cue), now));
    const gone = cues.filter((c) => !kept.has(c.cue));
    if (gone.length) {
      for (const c of gone) {
        removeCue(c);
        keys.delete(cueKey(c.cue));
      }
      cues = cues.filter((c) => kept.has(c.cue));
    }
    for (const c of cues) {
      if (c.vtt) continue;
      const [s, e] = mediaSpan(c.cue, offset);
      const Cue = window.VTTCue || window.TextTrackCue;
      c.vtt = new Cue(s, e, cueText(c.cue.text));
      track.addCue(c.vtt);
    }
  };

  const onMessage = (e) => {
    const cue = parseCue(e.data);
    if (!cue) return;
    const key = cueKey(cue);
    if (keys.has(key)) return;
    keys.add(key);
    cues.push({ cue, vtt: null });
    place();
  };

  function start(url, offset) {
    offsetFn = offset;
    ensureTrack();
    if (source && sourceUrl === url) return;
    stop();
    ensureTrack();
    if (typeof EventSource !== 'function') {
      onFail('no EventSource');
      return;
    }
    const es = new EventSource(url);
    source = es;
    sourceUrl = url;
    es.onmessage = onMessage;
    es.onopen = () => log('captions stream open');
    es.onerror = () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (busy, forbidden) rather than dropped: the browser will not retry.
        log('captions stream refused: back to the subtitles playlist');
        stop();
        onFail('refused');
      } else log('captions stream dropped: reconnecting');
    };
    video.addEventListener('timeupdate', place);
  }

  function stop() {
    if (source) {
      source.close();
      source = null;
      sourceUrl = null;
    }
    video.removeEventListener('timeupdate', place);
    clearPlaced();
    cues = [];
    keys.clear();
    placedOffset = null;
  }

  return { start, stop, track: () => track, active: () => source != null };
}
