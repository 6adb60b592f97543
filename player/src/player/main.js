// Amphi player, shared by the watch page (/watch/{event}) and the embed page
// (/embed/{event}): plays /live/{event}/master.m3u8 with hls.js (LL-HLS), or natively where
// the browser plays HLS itself (Safari, iOS). Waits for the lecturer when there is no stream
// yet (a waiting room with the event's title and start time), and recovers from network
// errors, media errors, stalls and encoder reconnects without reloading the page.
//
// ES modules bundled by player/build.mjs into one plain browser script, assets/player.js:
// hls.min.js is loaded before it and defines window.Hls. Everything user-visible is set
// with textContent. This module owns the player's lifecycle (looking for the stream,
// attaching hls.js or the native player, recovering from errors, the replay) and wires the
// others to the page: the state machine (state.js), the latency policy (latency.js), where
// playback is in program time (position.js), the hls.js configurations (hls-config.js),
// the buttons (controls.js), the quality menu (quality.js), the Q&A panel's view of the
// player (qa-glue.js), and DVR during the live (timeshift.js over dvr.js: the seek bar
// over the whole lecture; seeking back beyond the live window plays the DVR playlist,
// /live/{event}/dvr.m3u8, and the Live button returns to the low-latency live playlist).
//
// Page elements, by id: video, stage, overlay, message, play, mute, golive, quality,
// latency, fullscreen (required); title, wr-title, wr-starts, cc, captions, seek,
// seek-markers (optional).

import { captionsStreamUrl } from './caption-push.js';
import { followSubtitleLoading, setupCaptions } from './captions.js';
import { setupChapters } from './chapters.js';
import { bindControls } from './controls.js';
import { dvrUrl, setMarkers } from './dvr.js';
import { dvrConfig, hintedPartLoaders, liveConfig } from './hls-config.js';
import { bindKeys } from './keyboard.js';
import { catchUpRate, forgivenTarget, holdBackOf, jumpOnResume, latencyText, latencyVerdict } from './latency.js';
import {
  behindSeconds,
  followsLiveEdge,
  latencySeconds,
  liveEdgeTime,
  liveSyncPosition,
  pdtLatencyMs,
  programOffsetMs,
  programTime,
  targetLatency,
} from './position.js';
import { announceState, exposePlayer, playerStats } from './qa-glue.js';
import { qualityMenu } from './quality.js';
import { probeReplay, showReplay } from './replay.js';
import { mediaToken, parseEventId, probeLive, sourceUrl, viewerToken } from './source.js';
import { enter, fatalAction, mediaError, networkRetry, newMachine, resetAttempt, watchdog } from './state.js';
import { bindTimeshift } from './timeshift.js';
import { followEventInfo } from './waiting-room.js';

const WAIT_RETRY_MS = 2000; // how often to look for the stream while nobody is publishing
const TICK_MS = 500; // latency display and stall watchdog

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
  onSeek: (t) => timeshift.seekTo(t),
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
  const hls = new Hls(
    S.view === 'dvr' ? dvrConfig(S.dvrStartPosition) : liveConfig(hintedPartLoaders(Hls, location.search)),
  );
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

// Throws the player away and plays `view` ('live' | 'dvr') from media position
// `position` (-1: the live edge): the seek bar's and the Live button's switch.
function switchView(view, position) {
  teardown();
  S.view = view;
  S.timeshift = false;
  S.dvrStartPosition = position;
  attach();
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
  if (S.lectureStart == null) timeshift.refreshSpan(false);
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

// ---------------------------------------------------------------- position + DVR

function jumpToLive() {
  const at = liveSyncPosition(S, video);
  if (at != null) video.currentTime = at;
}

// Whether captions are pushed now: the live playlist with hls.js.
function livePush() {
  if (S.mode !== 'hls' || S.view !== 'live' || S.replay || !S.hls || !captionsSource) return null;
  return { url: captionsSource, offset: () => programOffsetMs(S, video) };
}

const timeshift = bindTimeshift(
  { S, video, dvrSource, log, switchView, jumpToLive },
  { seek: seekEl, seekMarkers: seekMarkersEl, live: liveBtn },
);

// The playing level's latest playlist details (hls.js), if loaded.
function levelDetails(hls) {
  const level = hls.levels && hls.levels[hls.currentLevel];
  return hls.latestLevelDetails || (level && level.details);
}

function forgiveStalls(now) {
  const hls = S.hls;
  if (!hls) return;
  const details = levelDetails(hls);
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

// Holds a live viewer at the target latency (catchUpRate): hls.js's own catch-up is off
// (liveConfig), it needs a second buffered ahead.
function catchUp() {
  const hls = S.hls;
  let rate = 1;
  if (hls && S.mode === 'hls' && followsLiveEdge(S) && !video.paused && S.playedThisAttempt) {
    const details = levelDetails(hls);
    const b = video.buffered;
    rate = catchUpRate({
      latency: latencySeconds(S, video),
      target: hls.targetLatency,
      forwardBuffer: b.length ? b.end(b.length - 1) - video.currentTime : 0,
      partTarget: details && details.partTarget,
      rate: video.playbackRate,
    });
  }
  if (video.playbackRate !== rate) video.playbackRate = rate;
}

// ---------------------------------------------------------------- watchdog + display

function tick() {
  const now = performance.now();
  forgiveStalls(now);
  catchUp();
  const verdict = watchdog(S, {
    now,
    currentTime: video.currentTime,
    paused: video.paused,
    readyState: video.readyState,
  });
  if (verdict.state) setState(verdict.state);
  if (verdict.reload) reload(verdict.reload);

  const dvrBehind = timeshift.update();
  const lat = latencySeconds(S, video);
  const pdt = pdtLatencyMs(S, video, Date.now());
  if (S.attached && S.playedThisAttempt && (lat || pdt != null)) {
    latencyEl.textContent = latencyText(lat, pdt);
    const { behind, jump } = latencyVerdict({ latency: lat, target: targetLatency(S), paused: video.paused });
    liveBtn.classList.toggle('behind', behind || dvrBehind);
    if (jump && followsLiveEdge(S)) {
      log('far behind live (' + lat.toFixed(1) + ' s): jumping to the live edge');
      jumpToLive();
    }
  } else {
    latencyEl.textContent = 'Latency –';
    liveBtn.classList.remove('behind');
  }
}

// ---------------------------------------------------------------- controls

function togglePlay() {
  if (video.paused) {
    S.userPaused = false;
    if (!S.attached) return;
    if (followsLiveEdge(S) && jumpOnResume(latencySeconds(S, video), targetLatency(S))) jumpToLive();
    S.lastProgressAt = performance.now();
    startPlayback();
    if (S.state === 'blocked' || S.state === 'paused') setState('loading');
  } else {
    S.userPaused = true;
    video.pause();
    setState('paused');
  }
}

const controls = bindControls(
  { video, stage, play: playBtn, mute: muteBtn, fullscreen: fullscreenBtn, live: liveBtn },
  {
    togglePlay,
    goLive: () => {
      if (S.attached) timeshift.goLive();
    },
  },
);
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

exposePlayer(eventId, {
  hls: () => S.hls,
  event: () => eventInfo,
  state: () => S.state,
  stats: () =>
    playerStats(S, video, {
      latency: latencySeconds(S, video),
      pdtLatency: pdtLatencyMs(S, video, Date.now()),
      behind: behindSeconds(liveEdgeTime(S, video, Date.now()), programTime(S, video)),
    }),
  programTime: () => programTime(S, video),
});

function start() {
  controls.refresh();
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
