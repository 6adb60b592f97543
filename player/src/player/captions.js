// Captions: a <track id="captions"> slot filled from ?captions=<WebVTT URL> (same origin
// or https only), and the CC button. The stream's own subtitles rendition (EXT-X-MEDIA
// TYPE=SUBTITLES) appears as a text track: hls.js adds it and loads its WebVTT segments
// only while it is selected (no request while captions are off); Safari's native player
// adds it itself. During the live with hls.js, the captions are not loaded from that
// rendition (a blocking playlist reload and a WebVTT part per LL-HLS part) but pushed
// by the origin on one stream per viewer (caption-push.js) onto the player's own text
// track; the DVR playlist, the replay and native players keep the rendition. The button
// turns the captions on or all off; `refresh()` re-applies the choice when the player
// changes (a new hls.js instance, live or DVR).

import { captionPush } from './caption-push.js';

// After the captions stream was refused, how long the subtitles rendition is used
// before the stream is tried again.
export const PUSH_RETRY_MS = 60000;

// `live()` says whether the live is playing with hls.js: { url, offset } (the captions
// stream's URL, and the program-time offset of the media, see caption-push.js) or null.
export function setupCaptions(video, captionsTrack, ccBtn, currentHls, live = () => null, log = () => {}) {
  if (captionsTrack) {
    const raw = new URLSearchParams(location.search).get('captions');
    if (raw) {
      try {
        const url = new URL(raw, location.href);
        if (url.origin === location.origin || url.protocol === 'https:') captionsTrack.src = url.href;
      } catch (_) {
        /* ignored: not a URL */
      }
    }
  }
  if (!ccBtn) return { refresh() {} };
  const tracks = video.textTracks;
  // The stream's subtitles rendition as hls.js names it (the push track takes its label).
  const rendition = () => {
    const hls = currentHls();
    return (hls && hls.subtitleTracks && hls.subtitleTracks[0]) || null;
  };
  let pushRefused = false;
  const push = captionPush(video, {
    label: () => (rendition() && rendition().name) || 'Captions',
    language: () => (rendition() && rendition().lang) || '',
    // Refused (busy, restarting): the rendition meanwhile, the stream tried again later.
    onFail: () => {
      pushRefused = true;
      apply();
      setTimeout(() => {
        pushRefused = false;
        if (wanted) apply();
      }, PUSH_RETRY_MS);
    },
    log,
  });
  let wanted = false;
  const usable = () => Array.from(tracks).filter((t) => t.kind === 'captions' || t.kind === 'subtitles');
  const hasSource = (t) => t !== (captionsTrack && captionsTrack.track) || !!captionsTrack.src;
  const update = () => {
    const list = usable();
    const withSource = list.filter(hasSource);
    ccBtn.hidden = withSource.length === 0;
    const on = withSource.some((t) => t.mode === 'showing');
    ccBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
  };
  // Shows the captions the player has now (pushed during the live, else the first
  // usable track), or none.
  function apply() {
    const hls = currentHls();
    const streamTracks = hls && hls.subtitleTracks ? hls.subtitleTracks.length : 0;
    const l = wanted && !pushRefused && streamTracks > 0 ? live() : null;
    if (l) push.start(l.url, l.offset);
    else push.stop();
    const mine = push.track();
    // The stream's subtitles through hls.js only when not pushed (its selection starts
    // their loading).
    if (hls && streamTracks > 0) {
      const viaHls = wanted && !l;
      hls.subtitleDisplay = viaHls;
      hls.subtitleTrack = viaHls ? 0 : -1;
    }
    const list = usable();
    const first = l ? mine : list.find((t) => t !== mine && hasSource(t));
    list.forEach((t) => {
      t.mode = wanted && t === first ? 'showing' : 'disabled';
    });
    update();
  }
  ccBtn.addEventListener('click', () => {
    wanted = !usable().some((t) => t.mode === 'showing');
    apply();
  });
  tracks.addEventListener('addtrack', update);
  tracks.addEventListener('removetrack', update);
  tracks.addEventListener('change', update);
  update();
  return {
    refresh() {
      if (wanted) apply();
    },
  };
}

// Keeping the live subtitles loading. hls.js (1.7) loads the parts of a subtitles
// fragment as one chain: the first part from the playlist it had, each next one from the
// newest playlist, and it picks a next part again only once a processed part ends where
// the fragment it started from ends (within 1 µs). It re-aligns every reload of a live
// subtitles playlist on the main playlist by program date-time, so the same part can
// start slightly earlier (a fraction of a millisecond to a few) in a newer playlist than
// in the older one; and parts whose rounded durations add up to less than their
// segment's end short of it (Amphi's playlists avoid that). When the chain stops on such
// a part (the edge of the playlist, nothing more listed yet), hls.js waits for the rest
// of a fragment it has in fact loaded, and never loads another subtitle part: the track
// stays selected and showing, with no new cue. It happens when captions are turned on
// at the live edge. Selecting the same track again makes hls.js drop that wait and pick
// the next part from the current playlist (the cues already added stay).

// hls.js's tolerance for "this part ends its fragment", in seconds.
export const PART_END_TOLERANCE_S = 1e-6;

// Whether hls.js, having processed `part` ({ start, duration }) of a fragment that ends
// at `fragEnd`, is left waiting for nothing: the part ends short of the fragment and no
// later part of that fragment is listed for the chain to go on with.
export function partChainStalls(part, fragEnd, laterPartListed) {
  return !laterPartListed && part.start + part.duration < fragEnd - PART_END_TOLERANCE_S;
}

// Playlist updates whose edge moved on, with captions showing and no subtitle part
// loaded, before the loading is restarted anyway (a second at 0.333 s parts): the
// catch-all for a stall the check above does not foresee.
export const STALL_ADVANCES = 3;

// The watch over the subtitles loading: a pure step. `state` is { edge, advances };
// `input` is { kind: 'playlist', edge: [msn, part], live, showing } when a subtitles
// playlist is loaded, { kind: 'loaded' } when a subtitle part or segment is loaded, or
// { kind: 'restarted' }. Returns { state, restart }.
export function watchSubtitles(state, input) {
  const s = state || { edge: null, advances: 0 };
  if (input.kind === 'loaded' || input.kind === 'restarted') {
    return { state: { edge: s.edge, advances: 0 }, restart: false };
  }
  if (!input.live || !input.showing) return { state: { edge: input.edge, advances: 0 }, restart: false };
  const moved = s.edge != null && compareEdge(input.edge, s.edge) > 0;
  const advances = moved ? s.advances + 1 : s.advances;
  if (advances >= STALL_ADVANCES) return { state: { edge: input.edge, advances: 0 }, restart: true };
  return { state: { edge: input.edge, advances }, restart: false };
}

function compareEdge(a, b) {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

// The last listed part of a playlist as [msn, part] (a segment-only playlist: its last
// segment, after all of its parts).
function edgeOf(details) {
  if (details.partList && details.partList.length) {
    const last = details.partList[details.partList.length - 1];
    return [last.fragment.sn, last.index];
  }
  return [details.endSN, Number.MAX_SAFE_INTEGER];
}

// Follows one hls.js instance: restarts its subtitles loading when it stalls (see above).
// `log` receives one line per restart.
export function followSubtitleLoading(hls, Hls, log = () => {}) {
  const E = Hls.Events;
  let state = null;
  let pending = false;
  const showing = () => {
    const media = hls.media;
    return hls.subtitleTrack >= 0 && hls.subtitleDisplay !== false && !!media && !media.paused;
  };
  const restart = (why) => {
    if (pending) return;
    pending = true;
    // After the part chain has settled (it runs on from the event being handled).
    setTimeout(() => {
      pending = false;
      const id = hls.subtitleTrack;
      if (id < 0) return;
      log('subtitles loading restarted', why);
      state = watchSubtitles(state, { kind: 'restarted' }).state;
      hls.subtitleTrack = id;
    }, 0);
  };
  hls.on(E.SUBTITLE_TRACK_LOADED, (_, data) => {
    const details = data && data.details;
    if (!details || data.id !== hls.subtitleTrack) return;
    const step = watchSubtitles(state, { kind: 'playlist', edge: edgeOf(details), live: !!details.live, showing: showing() });
    state = step.state;
    if (step.restart) restart('no part loaded while the playlist advanced');
  });
  hls.on(E.FRAG_LOADED, (_, data) => {
    if (data && data.frag && data.frag.type === 'subtitle') state = watchSubtitles(state, { kind: 'loaded' }).state;
  });
  hls.on(E.SUBTITLE_FRAG_PROCESSED, (_, data) => {
    const { frag, part, success } = data || {};
    if (!success || !part || !frag) return;
    const track = hls.subtitleTracks && hls.subtitleTracks[hls.subtitleTrack];
    const list = (track && track.details && track.details.partList) || [];
    const later = list.some((p) => p.fragment.sn === frag.sn && p.index > part.index);
    if (partChainStalls(part, frag.end, later)) {
      const end = (part.start + part.duration).toFixed(4);
      restart(`the part chain ended short of its fragment (sn ${frag.sn} part ${part.index} ends at ${end} s, the fragment at ${frag.end.toFixed(4)} s)`);
    }
  });
}
