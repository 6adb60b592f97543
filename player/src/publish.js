// Amphi "go live from the browser" page (/publish/{event}): captures the camera or the
// screen plus the microphone and publishes them over WHIP (RFC 9725) to
// POST /whip/{event}: one sendonly transceiver per track, H.264 and Opus preferred,
// non-trickle (the offer waits for ICE gathering), `Authorization: Bearer <stream key>`.
// Stop (or leaving the page) DELETEs the session the server returned in `Location`.
//
// The stream key comes from the address fragment (#key=…, removed from the address bar at
// once) or the password field, and is kept in this tab's sessionStorage only; it never
// goes into a URL's query string. Everything shown is set with textContent.
import { eventFromPath } from './player/event-id.js';

(function () {
  'use strict';

  const ICE_GATHERING_TIMEOUT_MS = 3000;
  const CONNECT_TIMEOUT_MS = 15000;
  const MAX_REASON_CHARS = 300;
  const VIDEO_MAX_BITRATE = 2500000;

  const $ = (id) => document.getElementById(id);
  const form = $('publish-form');
  const keyInput = $('key');
  const micBox = $('mic');
  const preview = $('preview');
  const badge = $('badge');
  const previewBtn = $('preview-btn');
  const goLiveBtn = $('golive');
  const stopBtn = $('stop');
  const watch = $('watch');
  const status = $('status');
  const stats = $('stats');
  const title = $('title');

  const event = eventFromPath(location.pathname, ['publish']);
  const storageKey = 'amphi-publish-key:' + event;

  function setStatus(text, kind) {
    status.textContent = text;
    status.classList.toggle('is-live', kind === 'live');
    status.classList.toggle('is-error', kind === 'error');
  }

  if (!event) {
    setStatus('There is no such event. Check the link.', 'error');
    for (const b of [previewBtn, goLiveBtn, stopBtn]) b.disabled = true;
    return;
  }
  title.textContent = 'Go live · ' + event;
  document.title = 'Amphi · go live · ' + event;
  watch.href = '/watch/' + encodeURIComponent(event);

  // --- stream key: fragment → sessionStorage → field; the fragment leaves the address bar.
  function readStoredKey() {
    try {
      return sessionStorage.getItem(storageKey) || '';
    } catch (_) {
      return '';
    }
  }
  function storeKey(k) {
    try {
      if (k) sessionStorage.setItem(storageKey, k);
      else sessionStorage.removeItem(storageKey);
    } catch (_) {
      /* storage disabled: the field still holds it */
    }
  }
  (function takeKeyFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    const k = params.get('key');
    if (k) {
      storeKey(k);
      history.replaceState(null, '', location.pathname);
    }
    keyInput.value = readStoredKey();
  })();
  keyInput.addEventListener('input', () => storeKey(keyInput.value.trim()));
  form.addEventListener('submit', (e) => e.preventDefault());

  // --- state
  let stream = null; // the captured MediaStream (preview and publish)
  let streamSource = null; // 'camera' | 'screen', with or without mic, as captured
  let pc = null;
  let resource = null; // the WHIP session URL (Location)
  let publishKey = null; // the key the session was created with (for DELETE)
  let statsTimer = null;
  let generation = 0; // bumps on each Go live / Stop, so stale async steps give up

  function chosenSource() {
    const checked = form.querySelector('input[name="source"]:checked');
    return (checked && checked.value === 'screen' ? 'screen' : 'camera') + (micBox.checked ? '+mic' : '');
  }

  function setBusy(state) {
    // state: 'idle' | 'connecting' | 'live'
    const active = state !== 'idle';
    goLiveBtn.disabled = active;
    previewBtn.disabled = active;
    stopBtn.disabled = !active;
    keyInput.disabled = active;
    for (const input of form.querySelectorAll('input[name="source"], #mic')) input.disabled = active;
    badge.hidden = state !== 'live';
    watch.hidden = state !== 'live';
  }

  function stopTracks() {
    if (stream) for (const t of stream.getTracks()) t.stop();
    stream = null;
    streamSource = null;
    preview.srcObject = null;
  }

  async function capture() {
    const want = chosenSource();
    if (stream && streamSource === want && stream.getTracks().every((t) => t.readyState === 'live')) return stream;
    stopTracks();
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) throw new Error('This browser cannot capture media here (it needs HTTPS or localhost).');
    const screen = want.startsWith('screen');
    const mic = want.endsWith('+mic');
    const audio = mic ? { echoCancellation: true, noiseSuppression: true, autoGainControl: true } : false;
    let s;
    if (screen) {
      if (!md.getDisplayMedia) throw new Error('This browser cannot share the screen.');
      s = await md.getDisplayMedia({ video: { frameRate: { ideal: 30, max: 30 } }, audio: false });
      if (mic) {
        try {
          const a = await md.getUserMedia({ audio, video: false });
          for (const t of a.getAudioTracks()) s.addTrack(t);
        } catch (e) {
          for (const t of s.getTracks()) t.stop();
          throw e;
        }
      }
    } else {
      s = await md.getUserMedia({
        audio,
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } },
      });
    }
    const video = s.getVideoTracks()[0];
    // Keep the resolution, lower the frame rate when bandwidth is short: slides stay
    // sharp, and the server plans its renditions from the size of the first frames
    // (browsers otherwise start small while they probe the bandwidth).
    if (video && 'contentHint' in video) video.contentHint = 'detail';
    // The browser's own "Stop sharing" button ends the broadcast too.
    if (video) video.addEventListener('ended', () => stop('Screen sharing ended. Not live.'));
    stream = s;
    streamSource = want;
    preview.srcObject = s;
    return s;
  }

  function captureError(e) {
    const name = e && e.name;
    if (name === 'NotAllowedError') return 'Permission to use the camera, screen or microphone was refused.';
    if (name === 'NotFoundError') return 'No camera or microphone was found.';
    if (name === 'NotReadableError') return 'The camera or microphone is in use by another application.';
    return 'Cannot capture: ' + ((e && e.message) || String(e));
  }

  // H.264 first (packetization-mode=1, Constrained Baseline before others), then the rest.
  function preferCodecs(transceiver, kind, mime) {
    if (!transceiver.setCodecPreferences || !window.RTCRtpSender || !RTCRtpSender.getCapabilities) return true;
    const caps = RTCRtpSender.getCapabilities(kind);
    if (!caps) return true;
    const rank = (c) => {
      if (c.mimeType.toLowerCase() !== mime) return 9;
      const fmtp = (c.sdpFmtpLine || '').toLowerCase();
      if (kind !== 'video') return 0;
      const mode1 = fmtp.includes('packetization-mode=1');
      const cb = fmtp.includes('profile-level-id=42e0');
      return (mode1 ? 0 : 4) + (cb ? 0 : 1);
    };
    const codecs = caps.codecs.slice().sort((a, b) => rank(a) - rank(b));
    if (!codecs.some((c) => c.mimeType.toLowerCase() === mime)) return false;
    try {
      transceiver.setCodecPreferences(codecs);
    } catch (_) {
      /* keep the browser's order */
    }
    return true;
  }

  async function keepResolution(sender) {
    try {
      const params = sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      await sender.setParameters(params);
    } catch (_) {
      /* contentHint already asks for it */
    }
  }

  function iceGatheringDone(conn, timeoutMs) {
    if (conn.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        conn.removeEventListener('icegatheringstatechange', check);
        clearTimeout(timer);
        resolve();
      };
      const check = () => {
        if (conn.iceGatheringState === 'complete') done();
      };
      const timer = setTimeout(done, timeoutMs);
      conn.addEventListener('icegatheringstatechange', check);
    });
  }

  async function reasonOf(res) {
    let text = '';
    try {
      text = (await res.text()).trim();
    } catch (_) {
      /* no body */
    }
    if (text.length > MAX_REASON_CHARS) text = text.slice(0, MAX_REASON_CHARS) + '…';
    const lead = {
      400: 'The server could not use this browser\'s offer',
      401: 'The stream key was refused',
      403: 'Publishing is not allowed',
      404: 'There is no such event or publishing endpoint',
      406: 'The server cannot use what this browser sends',
      409: 'Someone is already live on this event',
      413: 'The offer was too large',
      415: 'The server refused the offer\'s content type',
      503: 'The server cannot take a publisher right now',
    }[res.status] || 'The server answered ' + res.status;
    return text ? lead + ': ' + text : lead + '.';
  }

  function deleteResource(keepalive) {
    if (!resource) return;
    const url = resource;
    const key = publishKey;
    resource = null;
    const headers = key ? { Authorization: 'Bearer ' + key } : {};
    try {
      const p = fetch(url, { method: 'DELETE', headers, keepalive, cache: 'no-store' });
      if (p && p.catch) p.catch(() => {});
    } catch (_) {
      /* the page is going away */
    }
  }

  function closePeer() {
    clearInterval(statsTimer);
    statsTimer = null;
    stats.hidden = true;
    if (pc) {
      pc.onconnectionstatechange = null;
      try {
        pc.close();
      } catch (_) {
        /* already closed */
      }
    }
    pc = null;
  }

  function stop(message, kind) {
    generation++;
    deleteResource(false);
    closePeer();
    stopTracks();
    setBusy('idle');
    setStatus(message || 'Stopped. Not live.', kind);
  }

  async function goLive() {
    const key = keyInput.value.trim();
    if (!key) {
      setStatus('Enter the stream key first.', 'error');
      keyInput.focus();
      return;
    }
    if (!window.RTCPeerConnection) {
      setStatus('This browser does not support WebRTC.', 'error');
      return;
    }
    storeKey(key);
    const gen = ++generation;
    const stale = () => gen !== generation;
    setBusy('connecting');
    setStatus('Starting the camera or screen…');
    let s;
    try {
      s = await capture();
    } catch (e) {
      if (stale()) return;
      setBusy('idle');
      setStatus(captureError(e), 'error');
      return;
    }
    if (stale()) return;
    const video = s.getVideoTracks()[0];
    const audio = s.getAudioTracks()[0];
    if (!video) {
      setBusy('idle');
      setStatus('There is no video to send.', 'error');
      return;
    }

    setStatus('Connecting…');
    const conn = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    pc = conn;
    const vt = conn.addTransceiver(video, {
      direction: 'sendonly',
      streams: [s],
      sendEncodings: [{ maxBitrate: VIDEO_MAX_BITRATE }],
    });
    if (!preferCodecs(vt, 'video', 'video/h264')) {
      stop('This browser cannot send H.264 video, which the server needs.', 'error');
      return;
    }
    if (audio) {
      const at = conn.addTransceiver(audio, { direction: 'sendonly', streams: [s] });
      preferCodecs(at, 'audio', 'audio/opus');
    }
    conn.onconnectionstatechange = () => {
      if (stale()) return;
      const st = conn.connectionState;
      if (st === 'connected') {
        setBusy('live');
        setStatus('Live. Viewers can watch now.', 'live');
        startStats(conn);
      } else if (st === 'disconnected') {
        setStatus('Connection interrupted; trying to recover…');
      } else if (st === 'failed') {
        stop('The connection to the server failed. Not live.', 'error');
      }
    };

    let answer;
    try {
      await conn.setLocalDescription(await conn.createOffer());
      await iceGatheringDone(conn, ICE_GATHERING_TIMEOUT_MS);
      if (stale()) return;
      const res = await fetch('/whip/' + encodeURIComponent(event), {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + key },
        body: conn.localDescription.sdp,
        cache: 'no-store',
      });
      if (stale()) {
        // Stopped while the offer was in flight: end what the server created.
        const loc = res.headers.get('Location');
        if (res.status === 201 && loc) {
          resource = new URL(loc, res.url).href;
          publishKey = key;
          deleteResource(false);
        }
        return;
      }
      if (res.status !== 201 && res.status !== 200) {
        stop(await reasonOf(res), 'error');
        return;
      }
      const loc = res.headers.get('Location');
      if (loc) {
        resource = new URL(loc, res.url).href;
        publishKey = key;
      }
      answer = await res.text();
      if (stale()) return;
      await conn.setRemoteDescription({ type: 'answer', sdp: answer });
      await keepResolution(vt.sender);
    } catch (e) {
      if (stale()) return;
      stop('Cannot go live: ' + ((e && e.message) || String(e)), 'error');
      return;
    }
    setTimeout(() => {
      if (!stale() && conn.connectionState !== 'connected') {
        stop('The server did not receive the media in time (a firewall may block UDP). Not live.', 'error');
      }
    }, CONNECT_TIMEOUT_MS);
  }

  // What is being sent, every 2 s: resolution, frame rate, bitrate.
  function startStats(conn) {
    clearInterval(statsTimer);
    let last = null;
    statsTimer = setInterval(async () => {
      if (conn !== pc) return;
      let report;
      try {
        report = await conn.getStats();
      } catch (_) {
        return;
      }
      let out = null;
      report.forEach((r) => {
        if (r.type === 'outbound-rtp' && r.kind === 'video') out = r;
      });
      if (!out) return;
      let kbps = null;
      if (last && out.timestamp > last.timestamp) {
        kbps = (8 * (out.bytesSent - last.bytesSent)) / (out.timestamp - last.timestamp);
      }
      last = out;
      const parts = [];
      if (out.frameWidth && out.frameHeight) parts.push(out.frameWidth + '×' + out.frameHeight);
      if (out.framesPerSecond) parts.push(Math.round(out.framesPerSecond) + ' fps');
      if (kbps !== null) parts.push(Math.round(kbps) + ' kb/s');
      stats.textContent = 'Sending ' + parts.join(' · ');
      stats.hidden = parts.length === 0;
    }, 2000);
  }

  previewBtn.addEventListener('click', async () => {
    setStatus('Starting the camera or screen…');
    try {
      await capture();
      setStatus('Preview. Not live yet.');
    } catch (e) {
      setStatus(captureError(e), 'error');
    }
  });
  goLiveBtn.addEventListener('click', () => {
    goLive();
  });
  stopBtn.addEventListener('click', () => {
    stop('Stopped. Not live.');
  });
  // A source change while not live drops the old capture (the next preview or Go live
  // captures the new choice).
  form.addEventListener('change', (e) => {
    if (e.target !== keyInput && !pc) stopTracks();
  });
  // Leaving the page ends the broadcast: the DELETE outlives the page (keepalive).
  window.addEventListener('pagehide', () => {
    deleteResource(true);
    closePeer();
  });

  // For tests and the curious: the page's state.
  window.amphiPublish = {
    state: () => ({
      status: status.textContent,
      live: !badge.hidden,
      resource,
      connection: pc ? pc.connectionState : null,
    }),
  };
})();
