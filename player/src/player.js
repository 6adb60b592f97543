// Amphi player, shared by the watch page (/watch/{event}) and the embed page
// (/embed/{event}): plays /live/{event}/master.m3u8 with hls.js (LL-HLS), or natively where
// the browser plays HLS itself (Safari, iOS). Waits for the lecturer when there is no stream
// yet (a waiting room with the event's title and start time), and recovers from network
// errors, media errors, stalls and encoder reconnects without reloading the page.
//
// A plain browser script (no modules, no bundler): hls.min.js is loaded before it and
// defines window.Hls. Everything user-visible is set with textContent.
//
// Page elements, by id: video, stage, overlay, message, play, mute, golive, quality,
// latency, fullscreen (required); title, wr-title, wr-starts, cc, captions (optional).
// Other scripts (the Q&A panel) use window.amphiPlayer: programTime() is the
// EXT-X-PROGRAM-DATE-TIME of the frame on screen (ms) or null, and an 'amphi:state'
// event is dispatched on document at every state change.
(function () {
  'use strict';

  const WAIT_RETRY_MS = 2000; // how often to look for the stream while nobody is publishing
  const TICK_MS = 500; // latency display and stall watchdog
  const SMOOTH_PLAYBACK_MS = 15000; // without a stall, before hls.js's target latency is reset
  const STALL_RELOAD_MS = 4000; // playing, but currentTime has not moved for this long: reload
  const START_RELOAD_MS = 10000; // same, before the first frame of an attempt
  const MAX_NETWORK_RETRIES = 3; // startLoad() attempts before loading the source again
  const FAR_BEHIND_S = 6; // seconds beyond the target latency after which we jump to live

  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const stage = $('stage');
  const overlay = $('overlay');
  const message = $('message');
  const titleEl = $('title');
  const playBtn = $('play');
  const muteBtn = $('mute');
  const liveBtn = $('golive');
  const quality = $('quality');
  const latencyEl = $('latency');
  const fullscreenBtn = $('fullscreen');
  const wrTitle = $('wr-title'); // waiting room (optional)
  const wrStarts = $('wr-starts');
  const ccBtn = $('cc'); // captions toggle (optional)
  const captionsTrack = $('captions'); // <track> slot (optional)

  const eventId = parseEventId(location.pathname);
  // Private events: `?token=` (from the embed code) becomes one path segment, so every
  // playlist, part and segment URL carries it and stays cacheable for the whole cohort.
  const viewerToken = (() => {
    const t = new URLSearchParams(location.search).get('token');
    return t && /^[A-Za-z0-9._-]{1,128}$/.test(t) ? t : null;
  })();
  const sourceUrl = eventId
    ? new URL(
        '/live/' + encodeURIComponent(eventId) +
          (viewerToken ? '/t/' + viewerToken : '') + '/master.m3u8',
        location.href
      ).href
    : null;

  const S = {
    mode: null, // 'hls' | 'native'
    state: 'connecting',
    hls: null,
    attached: false, // a player instance (or native src) is attached to the video
    generation: 0, // bumped by teardown(); stale async work compares against it
    timers: new Set(),
    recoveries: 0,
    networkRetries: 0,
    mediaErrors: 0,
    lastMediaErrorAt: 0,
    lastTime: 0,
    lastProgressAt: 0,
    lastStallAt: 0, // performance.now() of hls.js's last BUFFER_STALLED_ERROR
    playedThisAttempt: false,
    userPaused: false,
  };

  // ---------------------------------------------------------------- helpers

  function parseEventId(path) {
    const m = /^\/(?:watch|embed)\/([^/]+)\/?$/.exec(path);
    if (!m) return null;
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch (_) {
      return null;
    }
    return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) ? id : null;
  }

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

  const MESSAGES = {
    connecting: 'Connecting…',
    waiting: 'Waiting for the lecturer…',
    loading: 'Starting the stream…',
    buffering: 'Buffering…',
    recovering: 'Reconnecting…',
    paused: 'Paused',
    blocked: 'Press Play to start the lecture',
    playing: '',
  };

  function setState(state, text) {
    if (S.state === state && text === undefined) return;
    if (S.state !== state) log('state', S.state, '→', state);
    S.state = state;
    document.body.dataset.state = state;
    const msg = text !== undefined ? text : MESSAGES[state] || '';
    message.textContent = msg;
    overlay.hidden = msg === '';
    document.dispatchEvent(new CustomEvent('amphi:state', { detail: { state } }));
  }

  function formatBitrate(bps) {
    if (!bps) return '';
    return bps >= 1e6 ? (bps / 1e6).toFixed(1) + ' Mb/s' : Math.round(bps / 1e3) + ' kb/s';
  }

  function levelLabel(level) {
    const parts = [];
    if (level.height) parts.push(level.height + 'p');
    const rate = formatBitrate(level.bitrate);
    if (rate) parts.push(rate);
    return parts.join(' · ') || 'Level';
  }

  // ---------------------------------------------------------------- stream probe

  // Is the stream there and live? The multivariant playlist must exist and its first
  // media playlist must have media in it and no EXT-X-ENDLIST. Only the HLS URLs are
  // used, so this works behind any cache that serves /live/.
  async function probeLive() {
    try {
      const master = await fetch(sourceUrl, { cache: 'no-store' });
      if (!master.ok) return false;
      const text = await master.text();
      let mediaText = text;
      if (!/#EXTINF|#EXT-X-PART:/.test(text)) {
        const lines = text.split(/\r?\n/);
        const i = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF'));
        const uri = i >= 0 ? lines.slice(i + 1).find((l) => l.trim() && !l.startsWith('#')) : null;
        if (!uri) return false;
        const media = await fetch(new URL(uri.trim(), master.url).href, { cache: 'no-store' });
        if (!media.ok) return false;
        mediaText = await media.text();
      }
      return /#EXTINF|#EXT-X-PART:/.test(mediaText) && !/#EXT-X-ENDLIST/.test(mediaText);
    } catch (_) {
      return false;
    }
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
    S.lastTime = 0;
    S.lastProgressAt = performance.now();
    S.playedThisAttempt = false;
    resetQualityMenu();
  }

  // Looks for the stream every WAIT_RETRY_MS and starts playing as soon as it is live.
  function waitForStream(state) {
    teardown();
    setState(state || (S.state === 'connecting' ? 'connecting' : 'waiting'));
    const gen = S.generation;
    const poll = () => {
      probeLive().then((live) => {
        if (gen !== S.generation) return;
        if (live) attach();
        else {
          setState('waiting');
          later(poll, WAIT_RETRY_MS);
        }
      });
    };
    poll();
  }

  // Throws the player away and starts again from the stream probe (no page reload).
  function reload(reason) {
    S.recoveries++;
    log('reloading the source:', reason);
    waitForStream('recovering');
  }

  function attach() {
    S.networkRetries = 0;
    S.lastProgressAt = performance.now();
    S.lastTime = video.currentTime;
    S.playedThisAttempt = false;
    setState('loading');
    if (S.mode === 'hls') attachHls();
    else attachNative();
    S.attached = true;
  }

  function attachHls() {
    const Hls = window.Hls;
    const hls = new Hls({
      lowLatencyMode: true,
      // The target latency comes from the server's PART-HOLD-BACK (LL-HLS); hls.js
      // speeds playback up to catch up when it falls behind it, but never above 1.5x.
      maxLiveSyncPlaybackRate: 1.5,
      // After a stall hls.js moves its target latency back by this much (one part, not
      // its default second); `forgiveStalls` returns to the server's hold-back later.
      liveSyncOnStallIncrease: 0.34,
      liveDurationInfinity: true,
      backBufferLength: 30,
      // A lecture watched in a small window does not need the 1080p rendition.
      capLevelToPlayerSize: true,
      startFragPrefetch: true,
    });
    S.hls = hls;
    const E = Hls.Events;
    const mine = (fn) =>
      function (event, data) {
        if (S.hls === hls) fn(data);
      };
    hls.on(E.MANIFEST_PARSED, mine(onManifestParsed));
    hls.on(E.LEVEL_SWITCHED, mine(updateQualityMenu));
    hls.on(E.ERROR, mine(onHlsError));
    hls.attachMedia(video);
    hls.loadSource(sourceUrl);
  }

  function attachNative() {
    video.src = sourceUrl;
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
    buildQualityMenu();
    startPlayback();
  }

  function onHlsError(data) {
    if (data.details === window.Hls.ErrorDetails.BUFFER_STALLED_ERROR) S.lastStallAt = performance.now();
    if (!data.fatal) return; // hls.js retries these itself
    const Hls = window.Hls;
    log('fatal error', data.type, data.details, data.response ? data.response.code : '');
    const D = Hls.ErrorDetails;
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      if (
        data.details === D.MANIFEST_LOAD_ERROR ||
        data.details === D.MANIFEST_LOAD_TIMEOUT ||
        data.details === D.MANIFEST_PARSING_ERROR
      ) {
        // No (usable) stream: back to waiting for the lecturer.
        reload(data.details);
      } else {
        retryNetwork();
      }
    } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      recoverMedia();
    } else {
      reload(data.details);
    }
  }

  function retryNetwork() {
    const hls = S.hls;
    if (S.networkRetries >= MAX_NETWORK_RETRIES) {
      reload('network errors');
      return;
    }
    S.networkRetries++;
    S.recoveries++;
    setState('recovering');
    const delay = Math.min(1000 * 2 ** (S.networkRetries - 1), 8000);
    probeLive().then((live) => {
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
    const now = performance.now();
    S.mediaErrors = now - S.lastMediaErrorAt < 10000 ? S.mediaErrors + 1 : 1;
    S.lastMediaErrorAt = now;
    if (S.mediaErrors > 2) {
      reload('repeated media errors');
      return;
    }
    S.recoveries++;
    setState('recovering');
    if (S.mediaErrors === 2) {
      log('media error again: swapping audio codec');
      hls.swapAudioCodec();
    }
    hls.recoverMediaError();
  }

  // ---------------------------------------------------------------- quality menu

  function resetQualityMenu() {
    while (quality.options.length > 1) quality.remove(1);
    quality.options[0].textContent = 'Auto';
    quality.value = '-1';
    quality.disabled = true;
  }

  function buildQualityMenu() {
    const hls = S.hls;
    resetQualityMenu();
    if (!hls) return;
    const order = hls.levels
      .map((level, index) => ({ level, index }))
      .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate);
    for (const { level, index } of order) {
      const opt = document.createElement('option');
      opt.value = String(index);
      opt.textContent = levelLabel(level);
      quality.appendChild(opt);
    }
    quality.disabled = hls.levels.length < 2;
    updateQualityMenu();
  }

  function updateQualityMenu() {
    const hls = S.hls;
    if (!hls) return;
    const current = hls.levels[hls.currentLevel];
    quality.options[0].textContent = current && current.height ? 'Auto (' + current.height + 'p)' : 'Auto';
    quality.value = hls.autoLevelEnabled ? '-1' : String(hls.manualLevel >= 0 ? hls.manualLevel : hls.currentLevel);
  }

  quality.addEventListener('change', () => {
    const hls = S.hls;
    if (!hls) return;
    const index = Number(quality.value);
    // nextLevel switches at the next fragment boundary without flushing the buffer;
    // -1 returns to automatic selection.
    hls.nextLevel = Number.isInteger(index) ? index : -1;
    updateQualityMenu();
  });

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
    return (S.hls && S.hls.targetLatency) || 3;
  }

  function jumpToLive() {
    if (S.hls && S.hls.liveSyncPosition != null) video.currentTime = S.hls.liveSyncPosition;
    else if (video.seekable.length) video.currentTime = Math.max(0, video.seekable.end(video.seekable.length - 1) - 3);
  }

  // ---------------------------------------------------------------- watchdog + display

  // hls.js moves its target latency back after every stall and never forward again.
  // After a while of smooth playback, return to the server's hold-back (PART-HOLD-BACK):
  // a stall when joining in the first second of a lecture, or a moment of bad network,
  // should not keep the viewer behind for the rest of the lecture.
  function forgiveStalls(now) {
    const hls = S.hls;
    if (!hls || now - S.lastStallAt < SMOOTH_PLAYBACK_MS || now - S.lastProgressAt > 1000) return;
    const level = hls.levels && hls.levels[hls.currentLevel];
    const details = hls.latestLevelDetails || (level && level.details);
    const holdBack = details && details.live ? details.partHoldBack || details.holdBack : 0;
    const target = hls.targetLatency;
    if (holdBack > 0 && target != null && target > holdBack + 0.05) {
      log('target latency back to', holdBack, 's from', target.toFixed(2), 's');
      hls.targetLatency = holdBack;
    }
  }

  function tick() {
    const now = performance.now();
    forgiveStalls(now);
    const t = video.currentTime;
    if (Math.abs(t - S.lastTime) > 0.05) {
      const forward = t > S.lastTime;
      S.lastTime = t;
      if (forward && !video.paused) {
        S.lastProgressAt = now;
        S.playedThisAttempt = true;
        S.networkRetries = 0;
        if (S.state !== 'playing' && S.attached && video.readyState >= 3) setState('playing');
      }
    }

    if (S.attached && !S.userPaused && (!video.paused || S.state === 'loading')) {
      const limit = S.playedThisAttempt ? STALL_RELOAD_MS : START_RELOAD_MS;
      if (now - S.lastProgressAt > limit) {
        reload('no progress for ' + Math.round((now - S.lastProgressAt) / 1000) + ' s');
      } else if (S.playedThisAttempt && now - S.lastProgressAt > 1500 && S.state === 'playing') {
        setState('buffering');
      }
    }

    const lat = latencySeconds();
    const pdt = pdtLatencyMs();
    if (S.attached && S.playedThisAttempt && (lat || pdt != null)) {
      let text = 'Latency ' + (lat ? lat.toFixed(1) + ' s' : '–');
      if (pdt != null) text += ' · glass-to-glass ' + (pdt / 1000).toFixed(1) + ' s';
      latencyEl.textContent = text;
      const behind = lat != null && lat > targetLatency() + 2;
      liveBtn.classList.toggle('behind', behind);
      if (!video.paused && lat != null && lat > targetLatency() + FAR_BEHIND_S) {
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
      // Back from a pause on a live stream: resume at the live edge if far behind.
      const lat = latencySeconds();
      if (lat != null && lat > targetLatency() + FAR_BEHIND_S) jumpToLive();
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
    if (S.attached) jumpToLive();
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
    // EXT-X-ENDLIST reached: the lecturer stopped. Wait for the next publish.
    if (S.attached) waitForStream('waiting');
  });
  video.addEventListener('error', () => {
    if (S.mode === 'native' && S.attached) reload('video element error');
  });

  // ---------------------------------------------------------------- start

  // The event's title and planned start (from /api/events) for the title bar and the
  // waiting room. Polled while nobody is publishing, so a changed title or start shows up.
  const EVENT_REFRESH_MS = 30000;

  function formatStart(iso) {
    const d = new Date(iso);
    if (!Number.isFinite(d.getTime())) return '';
    let when;
    try {
      when = d.toLocaleString(undefined, { weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit' });
    } catch (_) {
      when = d.toString();
    }
    const mins = Math.round((d.getTime() - Date.now()) / 60000);
    if (mins > 0 && mins < 120) return 'Starts ' + when + ' (in ' + mins + ' min)';
    if (mins > 0) return 'Starts ' + when;
    return 'Scheduled for ' + when;
  }

  let eventInfo = null;
  async function loadTitle() {
    try {
      const res = await fetch('/api/events', { cache: 'no-store' });
      if (!res.ok) return;
      const events = await res.json();
      const ev = Array.isArray(events) && events.find((e) => e && e.id === eventId);
      if (!ev) return;
      eventInfo = ev;
      const title = typeof ev.title === 'string' && ev.title ? ev.title : eventId;
      if (titleEl) titleEl.textContent = title;
      if (wrTitle) wrTitle.textContent = title;
      document.title = title + ' · Amphi';
      if (wrStarts) {
        const text = typeof ev.starts_at === 'string' && ev.starts_at ? formatStart(ev.starts_at) : '';
        wrStarts.textContent = text;
        wrStarts.hidden = text === '';
      }
      document.dispatchEvent(new CustomEvent('amphi:event', { detail: { event: ev } }));
    } catch (_) {
      /* the title is cosmetic */
    } finally {
      setTimeout(() => {
        if (!S.attached || !S.playedThisAttempt) loadTitle();
      }, EVENT_REFRESH_MS);
    }
  }

  // ---------------------------------------------------------------- captions

  // A <track id="captions"> slot: filled from ?captions=<WebVTT URL> (same origin or
  // https only). hls.js adds the stream's own subtitle renditions as text tracks.
  function setupCaptions() {
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
    if (!ccBtn) return;
    const tracks = video.textTracks;
    const usable = () => Array.from(tracks).filter((t) => t.kind === 'captions' || t.kind === 'subtitles');
    const update = () => {
      const list = usable();
      const withSource = list.filter((t) => t !== (captionsTrack && captionsTrack.track) || captionsTrack.src);
      ccBtn.hidden = withSource.length === 0;
      const on = withSource.some((t) => t.mode === 'showing');
      ccBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    };
    ccBtn.addEventListener('click', () => {
      const list = usable();
      const on = list.some((t) => t.mode === 'showing');
      list.forEach((t, i) => {
        t.mode = !on && i === 0 ? 'showing' : 'disabled';
      });
      if (S.hls) S.hls.subtitleDisplay = !on;
      update();
    });
    tracks.addEventListener('addtrack', update);
    tracks.addEventListener('removetrack', update);
    tracks.addEventListener('change', update);
    update();
  }

  // ---------------------------------------------------------------- keyboard

  // k or space: play/pause, m: mute, f: full screen, l: live edge, c: captions. Never
  // while typing (the Q&A box) or when a modifier is held.
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON|A)$/.test(t.tagName))) return;
    const key = e.key.toLowerCase();
    const click = (btn) => {
      if (btn && !btn.hidden && !btn.disabled) btn.click();
    };
    if (key === ' ' || key === 'k') click(playBtn);
    else if (key === 'm') click(muteBtn);
    else if (key === 'f') click(fullscreenBtn);
    else if (key === 'l') click(liveBtn);
    else if (key === 'c') click(ccBtn);
    else return;
    e.preventDefault();
  });

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
    };
  }

  window.amphiPlayer = Object.freeze({
    get hls() {
      return S.hls;
    },
    get event() {
      return eventInfo;
    },
    eventId,
    stats,
    programTime,
    get state() {
      return S.state;
    },
  });

  updatePlayButton();
  updateMuteButton();
  updateFullscreenButton();
  resetQualityMenu();

  if (!eventId) {
    setState('error', 'There is no such event. Check the link.');
    return;
  }
  if (titleEl) titleEl.textContent = eventId;
  if (wrTitle) wrTitle.textContent = eventId;
  loadTitle();
  setupCaptions();

  if (window.Hls && window.Hls.isSupported()) S.mode = 'hls';
  else if (video.canPlayType('application/vnd.apple.mpegurl')) S.mode = 'native';
  else {
    setState('error', 'This browser cannot play the lecture stream (HLS).');
    return;
  }
  setInterval(tick, TICK_MS);
  waitForStream('connecting');
})();
