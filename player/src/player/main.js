// Amphi player, shared by the watch page (/watch/{event}) and the embed page
// (/embed/{event}): plays /live/{event}/master.m3u8 with hls.js (LL-HLS), or natively where
// the browser plays HLS itself (Safari, iOS). Waits for the lecturer when there is no stream
// yet (a waiting room with the event's title and start time), and recovers from network
// errors, media errors, stalls and encoder reconnects without reloading the page.
//
// ES modules bundled by player/build.mjs into one plain browser script, assets/player.js:
// hls.min.js is loaded before it and defines window.Hls. Everything user-visible is set
// with textContent. This module wires the others to the page: the state machine
// (state.js), the latency policy (latency.js), the quality menu (quality.js), the Q&A
// panel's view of the player (qa-glue.js), DVR during the live (dvr.js: the seek bar
// over the whole lecture; seeking back beyond the live window plays the DVR playlist,
// /live/{event}/dvr.m3u8, and the Live button returns to the low-latency live playlist).
//
// Page elements, by id: video, stage, overlay, message, play, mute, golive, quality,
// latency, fullscreen (required); title, wr-title, wr-starts, cc, captions, seek,
// seek-markers (optional).

import { captionsStreamUrl } from './caption-push.js';
import { followSubtitleLoading, setupCaptions } from './captions.js';
import { setupChapters } from './chapters.js';
import { bindSeekBar, dvrUrl, fetchDvrPlaylist, liveButtonView, planSeek, playlistSpan, positionOf, setMarkers } from './dvr.js';
import { bindKeys } from './keyboard.js';
import {
  forgivenTarget,
  holdBackOf,
  jumpOnResume,
  latencyText,
  latencyVerdict,
  MAX_CATCH_UP_RATE,
  STALL_INCREASE_S,
  targetOr,
  timeshiftEnds,
} from './latency.js';
import { announceState, exposePlayer } from './qa-glue.js';
import { prefetchLoaders } from './prefetch.js';
import { qualityMenu } from './quality.js';
import { probeReplay, showReplay } from './replay.js';
import { mediaToken, parseEventId, probeLive, sourceUrl, viewerToken } from './source.js';
import { enter, fatalAction, mediaError, networkRetry, newMachine, resetAttempt, watchdog } from './state.js';
import { followEventInfo } from './waiting-room.js';

const WAIT_RETRY_MS = 2000; // how often to look for the stream while nobody is publishing
const TICK_MS = 500; // latency display and stall watchdog
const SPAN_REFRESH_MS = 30000; // the lecture's start is read again at most this often
// While it is unknown (a viewer who joined before the first segment was complete), it
// is tried again this often, this many times.
const SPAN_RETRY_MS = 4000;
const SPAN_RETRIES = 15;

const $ = (id) => document.getElementById(id);
const video = $('video');
const stage = $('stage');
const overlay = $('overlay');
const message = $('message');
const titleEl = $('title');
const playBtn = $('play');
const muteBtn = $('mute');
const liveBtn = $('golive');
const latencyEl = $('latency');
const fullscreenBtn = $('fullscreen');
const wrTitle = $('wr-title'); // waiting room (optional)
const wrStarts = $('wr-starts');
const ccBtn = $('cc'); // captions toggle (optional)
const captionsTrack = $('captions'); // <track> slot (optional)
const seekEl = $('seek'); // seek bar over the lecture so far (optional)
const seekMarkersEl = $('seek-markers');

const eventId = parseEventId(location.pathname);
const source = sourceUrl(eventId, viewerToken(location.search), location.href);
const dvrSource = dvrUrl(source);
// Live captions pushed by the origin (caption-push.js), same viewer token as the media.
const captionsSource = captionsStreamUrl(source);
let captions = { refresh() {} };
// Chapters and answered questions: on the seek bar and listed under it (chapters.js).
const chapters = setupChapters({
  eventId,
  setMarkers,
  onSeek: (t) => seekTo(t),
  after: seekEl ? seekEl.closest('.seekbar') : null,
});

// The state machine's record, and what only the page has: the player and its timers.
const S = Object.assign(newMachine(performance.now()), {
  mode: null, // 'hls' | 'native'
  hls: null,
  generation: 0, // bumped by teardown(); stale async work compares against it
  timers: new Set(),
  // DVR: which playlist plays ('live' low-latency, or 'dvr' the whole lecture), where
  // the DVR playlist starts playing (media position, s), whether the viewer chose to be
  // behind inside the live window (no automatic jump to live then), the wall clock
  // minus the live edge's program time, and the lecture's first program time.
  view: 'live',
  dvrStartPosition: -1,
  timeshift: false,
  timeshiftAt: -Infinity, // performance.now() of the seek that chose it
  edgeSkew: null,
  lectureStart: null,
  spanReadAt: -Infinity,
  spanReads: 0, // reads of the DVR playlist for the lecture's start
});
let eventInfo = null;
const quality = qualityMenu($('quality'), () => S.hls);

// ---------------------------------------------------------------- helpers

function later(fn, ms) {
  const gen = S.generation;
  const t = setTimeout(() => {
    S.timers.delete(t);
    if (gen === S.generation) fn();
  }, ms);
  S.timers.add(t);
}

function log(...args) {
  console.info('[amphi]', ...args);
}

function setState(state, text) {
  const change = enter(S, state, text);
  if (!change) return;
  if (change.from !== state) log('state', change.from, '→', state);
  document.body.dataset.state = state;
  message.textContent = change.message;
  overlay.hidden = change.message === '';
  announceState(state);
}

// ---------------------------------------------------------------- lifecycle

function teardown() {
  S.generation++;
  for (const t of S.timers) clearTimeout(t);
  S.timers.clear();
  if (S.hls) {
    const hls = S.hls;
    S.hls = null;
    try {
      hls.destroy();
    } catch (e) {
      log('destroy failed', e);
    }
  } else if (S.attached) {
    video.removeAttribute('src');
    try {
      video.load();
    } catch (_) {
      /* nothing to unload */
    }
  }
  S.attached = false;
  resetAttempt(S, performance.now(), 0);
  quality.reset();
}

// Looks for the stream every WAIT_RETRY_MS and starts playing as soon as it is live.
function waitForStream(state) {
  teardown();
  setState(state || (S.state === 'connecting' ? 'connecting' : 'waiting'));
  const gen = S.generation;
  const poll = () => {
    probeLive(source).then((live) => {
      if (gen !== S.generation) return;
      if (live) attach();
      else
        probeReplay(source).then((ended) => {
          if (gen !== S.generation) return;
          if (ended && S.replay) attach();
          else if (ended) startReplay(ended);
          else {
            setState('waiting');
            later(poll, WAIT_RETRY_MS);
          }
        });
    });
  };
  poll();
}

// The live has ended: play the whole lecture from its start (replay.js).
function startReplay(playlistText) {
  S.replay = true;
  log('the live has ended: replay');
  showReplay({
    root: $('replay'),
    eventId,
    mediaToken: mediaToken(viewerToken(location.search)),
    playlistText,
    onSeek: (t) => {
      video.currentTime = t;
      if (video.paused) video.play().catch(() => {});
    },
  });
  attach();
}

// Throws the player away and starts again from the stream probe (no page reload).
function reload(reason) {
  S.recoveries++;
  S.view = 'live';
  S.timeshift = false;
  log('reloading the source:', reason);
  waitForStream('recovering');
}

function attach() {
  S.networkRetries = 0;
  resetAttempt(S, performance.now(), video.currentTime);
  setState('loading');
  if (S.mode === 'hls') attachHls();
  else attachNative();
  S.attached = true;
}

function attachHls() {
  const Hls = window.Hls;
  const hls = S.view === 'dvr' ? dvrHls(Hls) : liveHls(Hls);
  S.hls = hls;
  chapters.follow(hls, Hls);
  followSubtitleLoading(hls, Hls, log);
  const E = Hls.Events;
  const mine = (fn) =>
    function (event, data) {
      if (S.hls === hls) fn(data);
    };
  hls.on(E.MANIFEST_PARSED, mine(onManifestParsed));
  hls.on(E.LEVEL_SWITCHED, mine(quality.update));
  hls.on(E.ERROR, mine(onHlsError));
  hls.attachMedia(video);
  hls.loadSource(S.view === 'dvr' ? dvrSource : source);
}

// The whole lecture so far, from a chosen moment: segments only, no catch-up.
function dvrHls(Hls) {
  return new Hls({
    lowLatencyMode: false,
    startPosition: S.dvrStartPosition,
    maxLiveSyncPlaybackRate: 1,
    liveDurationInfinity: true,
    backBufferLength: 30,
    capLevelToPlayerSize: true,
  });
}

// `?prefetch=0` turns the preload-hint loaders off (for comparison in the benchmarks).
function hintedPartLoaders(Hls) {
  if (new URLSearchParams(location.search).get('prefetch') === '0') return {};
  const { pLoader, fLoader } = prefetchLoaders(Hls);
  return { pLoader, fLoader };
}

function liveHls(Hls) {
  return new Hls({
    lowLatencyMode: true,
    // The target latency comes from the server's PART-HOLD-BACK (LL-HLS); hls.js
    // speeds playback up to catch up when it falls behind it, but never above 1.5x.
    maxLiveSyncPlaybackRate: MAX_CATCH_UP_RATE,
    liveSyncOnStallIncrease: STALL_INCREASE_S,
    liveDurationInfinity: true,
    backBufferLength: 30,
    // A lecture watched in a small window does not need the 1080p rendition.
    capLevelToPlayerSize: true,
    startFragPrefetch: true,
    // Hinted parts requested as soon as the playlist names them (prefetch.js).
    ...hintedPartLoaders(Hls),
  });
}

// Safari: the same two URLs. The DVR playlist (EVENT type) is seekable from its first
// segment; playback starts at the chosen moment once its metadata is known.
function attachNative() {
  if (S.view === 'dvr') {
    const gen = S.generation;
    const at = S.dvrStartPosition;
    video.addEventListener(
      'loadedmetadata',
      () => {
        if (gen === S.generation && at >= 0) video.currentTime = at;
      },
      { once: true },
    );
  }
  video.src = S.view === 'dvr' ? dvrSource : source;
  startPlayback();
}

function startPlayback() {
  if (S.userPaused) return;
  const p = video.play();
  if (p && typeof p.catch === 'function') {
    p.catch((e) => {
      if (e && e.name === 'NotAllowedError') {
        S.userPaused = true;
        setState('blocked');
      }
    });
  }
}

// ---------------------------------------------------------------- hls.js events

function onManifestParsed() {
  quality.build();
  captions.refresh();
  startPlayback();
  if (S.lectureStart == null) refreshSpan(false);
}

function onHlsError(data) {
  const Hls = window.Hls;
  if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) S.lastStallAt = performance.now();
  if (!data.fatal) return; // hls.js retries these itself
  log('fatal error', data.type, data.details, data.response ? data.response.code : '');
  const action = fatalAction(data, Hls.ErrorTypes, Hls.ErrorDetails);
  if (action === 'network') retryNetwork();
  else if (action === 'media') recoverMedia();
  else reload(data.details);
}

function retryNetwork() {
  const hls = S.hls;
  const delay = networkRetry(S);
  if (delay == null) {
    reload('network errors');
    return;
  }
  setState('recovering');
  probeLive(source).then((live) => {
    if (S.hls !== hls) return;
    if (!live) {
      // The publisher is gone (or the stream ended): wait for the next publish.
      waitForStream('waiting');
      return;
    }
    later(() => {
      log('network retry', S.networkRetries);
      hls.startLoad();
    }, delay);
  });
}

function recoverMedia() {
  const hls = S.hls;
  const step = mediaError(S, performance.now());
  if (step === 'reload') {
    reload('repeated media errors');
    return;
  }
  setState('recovering');
  if (step === 'swap') {
    log('media error again: swapping audio codec');
    hls.swapAudioCodec();
  }
  hls.recoverMediaError();
}

// ---------------------------------------------------------------- latency

// Wall clock minus the program date-time of the frame on screen: glass-to-glass, as
// far as the publisher's clock and ours agree.
function programTime() {
  let date = null;
  if (S.hls) date = S.hls.playingDate;
  else if (S.attached && typeof video.getStartDate === 'function') {
    const start = video.getStartDate().getTime();
    if (Number.isFinite(start)) date = new Date(start + video.currentTime * 1000);
  }
  return date && Number.isFinite(date.getTime()) ? date.getTime() : null;
}

function pdtLatencyMs() {
  const t = programTime();
  return t != null ? Date.now() - t : null;
}

function latencySeconds() {
  if (S.hls) return S.hls.latency;
  if (S.attached && video.seekable.length) {
    return Math.max(0, video.seekable.end(video.seekable.length - 1) - video.currentTime);
  }
  return null;
}

function targetLatency() {
  return targetOr(S.hls && S.hls.targetLatency);
}

// Whether the player holds the viewer at the live edge: not when behind by choice (the
// seek bar, the DVR playlist), nor on the replay of an ended lecture.
function followsLiveEdge() {
  return S.view === 'live' && !S.timeshift && !S.replay;
}

function jumpToLive() {
  if (S.hls && S.hls.liveSyncPosition != null) video.currentTime = S.hls.liveSyncPosition;
  else if (video.seekable.length) video.currentTime = Math.max(0, video.seekable.end(video.seekable.length - 1) - 3);
}

// ---------------------------------------------------------------- DVR

// Program time at the live edge now (ms): measured while the live playlist plays (the
// frame on screen plus hls.js's latency), then carried on the wall clock, so it holds
// while the DVR playlist plays and whatever the viewer's clock says.
function liveEdgeTime() {
  if (S.view === 'live' && S.attached && S.playedThisAttempt) {
    const t = programTime();
    const lat = latencySeconds();
    if (t != null && lat != null) S.edgeSkew = Date.now() - (t + lat * 1000);
  }
  return S.edgeSkew == null ? null : Date.now() - S.edgeSkew;
}

// Program time of the first segment the live playlist lists (its window), if known.
function liveWindowStart() {
  const t = programTime();
  if (S.view !== 'live' || t == null || !video.seekable.length) return null;
  return t - (video.currentTime - video.seekable.start(0)) * 1000;
}

// Program time on screen minus the media position (ms), while the live playlist plays
// with hls.js: where pushed captions go on the media timeline.
function programOffsetMs() {
  if (!S.hls || S.view !== 'live') return null;
  const d = S.hls.playingDate;
  const t = d ? d.getTime() : NaN;
  return Number.isFinite(t) ? t - video.currentTime * 1000 : null;
}

// Whether captions are pushed now: the live playlist with hls.js.
function livePush() {
  if (S.mode !== 'hls' || S.view !== 'live' || S.replay || !S.hls || !captionsSource) return null;
  return { url: captionsSource, offset: programOffsetMs };
}

// How far the frame on screen is behind the live edge (s).
function behindSeconds() {
  const edge = liveEdgeTime();
  const t = programTime();
  return edge != null && t != null ? Math.max(0, (edge - t) / 1000) : null;
}

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
    teardown();
    S.view = 'dvr';
    S.timeshift = false;
    S.dvrStartPosition = position;
    attach();
  });
}

// Back to the live edge: the low-latency live playlist, at its hold-back.
function goLive() {
  S.timeshift = false;
  if (S.view === 'live') {
    if (S.attached) jumpToLive();
    return;
  }
  log('back to the live playlist');
  teardown();
  S.view = 'live';
  S.dvrStartPosition = -1;
  attach();
}

// A seek chosen on the seek bar, in program time.
function seekTo(target) {
  if (!S.attached) return;
  const t = programTime();
  const plan = planSeek({ target, edge: liveEdgeTime(), windowStart: liveWindowStart(), start: S.lectureStart });
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
  let to = video.currentTime + (plan.at - t) / 1000;
  if (video.seekable.length) {
    const first = video.seekable.start(0);
    const last = video.seekable.end(video.seekable.length - 1);
    to = Math.min(last, Math.max(first, to));
  }
  if (S.view === 'live') {
    S.timeshift = true;
    S.timeshiftAt = performance.now();
  }
  S.lastProgressAt = performance.now();
  video.currentTime = to;
}

const seekBar = seekEl
  ? bindSeekBar(seekEl, seekMarkersEl, seekTo)
  : { update() {}, busy: () => false };
if (seekEl) {
  const fresh = () => refreshSpan(false);
  seekEl.addEventListener('focus', fresh);
  seekEl.addEventListener('pointerdown', fresh);
}

function updateDvrControls() {
  const edge = liveEdgeTime();
  const position = programTime();
  const playing = S.attached && S.playedThisAttempt;
  if (playing && S.view === 'live' && S.lectureStart == null && S.spanReads < SPAN_RETRIES) refreshSpan(false);
  const start = S.lectureStart != null ? S.lectureStart : liveWindowStart();
  seekBar.update(playing ? { start, edge, position } : { start: null, edge: null, position: null });
  const behind = playing ? behindSeconds() : null;
  if (
    S.view === 'live' &&
    S.timeshift &&
    timeshiftEnds({ behind, target: targetLatency(), seeking: video.seeking, sinceMs: performance.now() - S.timeshiftAt })
  ) {
    S.timeshift = false;
  }
  const view = liveButtonView(behind);
  if (liveBtn.textContent !== view.text) liveBtn.textContent = view.text;
  if (liveBtn.getAttribute('aria-label') !== view.label) liveBtn.setAttribute('aria-label', view.label);
  return view.behind;
}

function forgiveStalls(now) {
  const hls = S.hls;
  if (!hls) return;
  const level = hls.levels && hls.levels[hls.currentLevel];
  const details = hls.latestLevelDetails || (level && level.details);
  const target = hls.targetLatency;
  const next = forgivenTarget({
    now,
    lastStallAt: S.lastStallAt,
    lastProgressAt: S.lastProgressAt,
    holdBack: holdBackOf(details),
    target,
  });
  if (next != null) {
    log('target latency back to', next, 's from', target.toFixed(2), 's');
    hls.targetLatency = next;
  }
}

// ---------------------------------------------------------------- watchdog + display

function tick() {
  const now = performance.now();
  forgiveStalls(now);
  const verdict = watchdog(S, {
    now,
    currentTime: video.currentTime,
    paused: video.paused,
    readyState: video.readyState,
  });
  if (verdict.state) setState(verdict.state);
  if (verdict.reload) reload(verdict.reload);

  const dvrBehind = updateDvrControls();
  const lat = latencySeconds();
  const pdt = pdtLatencyMs();
  if (S.attached && S.playedThisAttempt && (lat || pdt != null)) {
    latencyEl.textContent = latencyText(lat, pdt);
    const { behind, jump } = latencyVerdict({ latency: lat, target: targetLatency(), paused: video.paused });
    liveBtn.classList.toggle('behind', behind || dvrBehind);
    if (jump && followsLiveEdge()) {
      log('far behind live (' + lat.toFixed(1) + ' s): jumping to the live edge');
      jumpToLive();
    }
  } else {
    latencyEl.textContent = 'Latency –';
    liveBtn.classList.remove('behind');
  }
}

// ---------------------------------------------------------------- controls

function updatePlayButton() {
  const label = video.paused ? 'Play' : 'Pause';
  playBtn.textContent = label;
  playBtn.setAttribute('aria-label', label);
}

function updateMuteButton() {
  const label = video.muted || video.volume === 0 ? 'Unmute' : 'Mute';
  muteBtn.textContent = label;
  muteBtn.setAttribute('aria-label', label);
  muteBtn.classList.toggle('btn-accent', label === 'Unmute');
}

function updateFullscreenButton() {
  const label = document.fullscreenElement ? 'Exit full screen' : 'Full screen';
  fullscreenBtn.textContent = label;
  fullscreenBtn.setAttribute('aria-label', label);
}

playBtn.addEventListener('click', () => {
  if (video.paused) {
    S.userPaused = false;
    if (!S.attached) return;
    if (followsLiveEdge() && jumpOnResume(latencySeconds(), targetLatency())) jumpToLive();
    S.lastProgressAt = performance.now();
    startPlayback();
    if (S.state === 'blocked' || S.state === 'paused') setState('loading');
  } else {
    S.userPaused = true;
    video.pause();
    setState('paused');
  }
});

muteBtn.addEventListener('click', () => {
  if (video.muted || video.volume === 0) {
    video.muted = false;
    if (video.volume === 0) video.volume = 1;
  } else {
    video.muted = true;
  }
});

liveBtn.addEventListener('click', () => {
  if (S.attached) goLive();
});

fullscreenBtn.addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else if (stage.requestFullscreen) stage.requestFullscreen().catch(() => {});
  else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();
});
if (!document.fullscreenEnabled && !video.webkitEnterFullscreen) fullscreenBtn.hidden = true;

video.addEventListener('play', updatePlayButton);
video.addEventListener('pause', updatePlayButton);
video.addEventListener('volumechange', updateMuteButton);
document.addEventListener('fullscreenchange', updateFullscreenButton);
video.addEventListener('waiting', () => {
  if (S.attached && S.state === 'playing') setState('buffering');
});
video.addEventListener('ended', () => {
  // EXT-X-ENDLIST reached: the lecturer stopped. Wait for the next publish (the
  // replay stays where it ended).
  if (S.attached && !S.replay) waitForStream('waiting');
});
video.addEventListener('error', () => {
  if (S.mode === 'native' && S.attached) reload('video element error');
});
bindKeys({ play: playBtn, mute: muteBtn, fullscreen: fullscreenBtn, live: liveBtn, cc: ccBtn });

// ---------------------------------------------------------------- start

function stats() {
  const hls = S.hls;
  const level = hls ? hls.currentLevel : -1;
  const current = hls && level >= 0 ? hls.levels[level] : null;
  return {
    currentTime: video.currentTime,
    latency: latencySeconds(),
    pdtLatency: pdtLatencyMs(),
    level,
    height: current ? current.height : video.videoHeight || null,
    levels: hls ? hls.levels.map((l) => l.height) : [],
    state: S.state,
    recoveries: S.recoveries,
    mode: S.mode,
    paused: video.paused,
    muted: video.muted,
    targetLatency: hls ? hls.targetLatency : null,
    view: S.view,
    behind: behindSeconds(),
    lectureStart: S.lectureStart,
  };
}

exposePlayer(eventId, {
  hls: () => S.hls,
  event: () => eventInfo,
  state: () => S.state,
  stats,
  programTime,
});

function start() {
  updatePlayButton();
  updateMuteButton();
  updateFullscreenButton();
  quality.reset();

  if (!eventId) {
    setState('error', 'There is no such event. Check the link.');
    return;
  }
  if (titleEl) titleEl.textContent = eventId;
  if (wrTitle) wrTitle.textContent = eventId;
  followEventInfo(
    eventId,
    { titleEl, wrTitle, wrStarts },
    (ev) => {
      eventInfo = ev;
    },
    () => !S.attached || !S.playedThisAttempt
  );
  captions = setupCaptions(video, captionsTrack, ccBtn, () => S.hls, livePush, log);

  if (window.Hls && window.Hls.isSupported()) S.mode = 'hls';
  else if (video.canPlayType('application/vnd.apple.mpegurl')) S.mode = 'native';
  else {
    setState('error', 'This browser cannot play the lecture stream (HLS).');
    return;
  }
  setInterval(tick, TICK_MS);
  waitForStream('connecting');
}

start();
