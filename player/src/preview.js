// Amphi green room (/preview/{event}#token=…): the lecturer and the moderators watch the
// stream from the event's preview playlist (served `private, no-store`, never to students)
// with its checks, updated every second from /api/events/{event}/health — each check green,
// orange or red with the OBS setting to change — the audience and recent warnings; Go live
// opens the event to students and the server marks that moment as a chapter ("Lecture
// starts") on the program clock, so the recording shows where the lecture begins. The token
// comes from the URL fragment (or sessionStorage) and goes only into the Authorization
// header; opened from the console (/preview/{event} without a token), the console session
// is used instead, with its CSRF token on Go live.
(function () {
  'use strict';

  const Q = window.AmphiQa;
  const H = window.AmphiHealth;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  const PLAYER_RETRY_MS = 2000;

  const statusEl = $('pv-status');
  const tokenForm = $('pv-token-form');
  const tokenInput = $('pv-token');
  const titleEl = $('title');
  const stageEl = $('pv-stage');
  const video = $('pv-video');
  const videoNote = $('pv-video-note');
  const goLiveBtn = $('pv-golive');
  const liveNote = $('pv-live-note');
  const overallEl = $('pv-overall');
  const checksEl = $('pv-checks');
  const viewersEl = $('pv-viewers');
  const warningsEl = $('pv-warnings');

  const m = /^\/preview\/([^/]+)\/?$/.exec(location.pathname);
  let event = null;
  try {
    event = m ? decodeURIComponent(m[1]) : null;
  } catch (_) {
    event = null;
  }
  const api = event ? '/api/events/' + encodeURIComponent(event) : null;
  let token = event ? Q.moderatorToken(event) : null;
  let csrf = null; // the console session's CSRF token, when there is no moderator token
  let timer = null;
  let hls = null;
  let playerUrl = null;
  let playerRetry = null;

  function setStatus(text, error) {
    statusEl.textContent = text;
    statusEl.classList.toggle('error', !!error);
    statusEl.hidden = text === '';
  }

  const tokenPrompt = Q.moderatorTokenForm({
    form: tokenForm,
    input: tokenInput,
    event,
    setStatus,
    onToken: (t) => {
      token = t;
      poll();
    },
  });

  function askForToken(why) {
    clearTimeout(timer);
    tokenPrompt.ask(why);
  }

  // ---------------------------------------------------------------- player

  function stopPlayer() {
    clearTimeout(playerRetry);
    if (hls) {
      try {
        hls.destroy();
      } catch (_) {
        /* already gone */
      }
    }
    hls = null;
    playerUrl = null;
  }

  function startPlayer(url) {
    if (playerUrl === url) return;
    stopPlayer();
    playerUrl = url;
    videoNote.textContent = 'Loading the preview…';
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ lowLatencyMode: true, liveDurationInfinity: true });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
        videoNote.textContent = 'Preview of the stream (muted: use the video controls to listen).';
        video.play().catch(() => {});
      });
      hls.on(window.Hls.Events.ERROR, (_, data) => {
        if (!data || !data.fatal) return;
        // The playlists appear a few seconds after the publisher connects: try again.
        stopPlayer();
        videoNote.textContent = 'Waiting for the stream…';
        playerRetry = setTimeout(() => startPlayer(url), PLAYER_RETRY_MS);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
      video.play().catch(() => {});
    } else {
      videoNote.textContent = 'This browser cannot play the preview.';
    }
    video.controls = true;
  }

  // ---------------------------------------------------------------- rendering

  function clock(iso) {
    const d = new Date(iso);
    return Number.isFinite(d.getTime()) ? d.toLocaleTimeString() : iso;
  }

  function render(d) {
    const stage = d.stage || {};
    titleEl.textContent = (stage.title || event) + ' · green room';
    document.title = (stage.title || event) + ' · green room · Amphi';
    if (stage.preview) {
      stageEl.textContent = 'In preview: students see the waiting room';
      stageEl.className = 'badge badge-off';
    } else {
      stageEl.textContent = 'Live: students can watch';
      stageEl.className = 'badge badge-live';
      if (stage.went_live_at) liveNote.textContent = 'Live since ' + clock(stage.went_live_at) + '.';
    }
    goLiveBtn.hidden = !stage.preview;
    H.levelBadge(overallEl, d.overall);
    H.renderChecks(checksEl, d.checks);
    const v = d.viewers || {};
    const cmcd = v.cmcd || {};
    let audience = 'About ' + Math.round(v.origin_estimate || 0) + ' viewers at this server (playlist requests)';
    audience += ', ' + (cmcd.sessions || 0) + (cmcd.capped ? '+' : '') + ' player sessions reporting CMCD.';
    viewersEl.textContent = audience;
    const warnings = (d.warnings || []).map((w) => {
      const li = document.createElement('li');
      li.dataset.level = w.level;
      li.textContent = clock(w.at) + ' — ' + w.text;
      return li;
    });
    warningsEl.replaceChildren(...warnings);
    if (d.publishing && stage.preview_playlist) startPlayer(stage.preview_playlist);
    if (!d.publishing && !hls) videoNote.textContent = 'Waiting for the stream: start streaming in OBS.';
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    const r = await Q.request('GET', api + '/health', { token });
    if (r.status === 401) return askForToken(token ? 'The token was refused.' : '');
    if (r.status === 403) return askForToken('Your console account does not moderate this event: enter its moderator token.');
    if (r.status === 404) return setStatus('There is no such event.', true);
    if (!r.ok || !r.data) {
      setStatus(r.message || 'Cannot reach the server. Retrying…', true);
      return schedule();
    }
    setStatus('');
    render(r.data);
    schedule();
  }

  // ---------------------------------------------------------------- Go live

  goLiveBtn.addEventListener('click', async () => {
    goLiveBtn.disabled = true;
    liveNote.textContent = 'Opening the event to students…';
    const r = token ? await Q.request('POST', api + '/go-live', { token }) : await goLiveWithSession();
    goLiveBtn.disabled = false;
    if (r.status === 401) return askForToken('The token was refused.');
    if (!r.ok || !r.data) {
      liveNote.textContent = r.message || 'Go live failed: try again.';
      return;
    }
    goLiveBtn.hidden = true;
    // The server marks that moment, on the program clock, as the "Lecture starts" chapter.
    liveNote.textContent = 'Live since ' + clock(r.data.went_live_at) + '.';
    poll();
  });

  // Go live with the console session: its CSRF token in X-CSRF-Token (the browser adds
  // Origin). Same result shape as Q.request.
  async function goLiveWithSession() {
    try {
      const res = await fetch(api + '/go-live', {
        method: 'POST',
        headers: { Accept: 'application/json', 'X-CSRF-Token': csrf || '' },
        credentials: 'same-origin',
        cache: 'no-store',
      });
      const data = await res.json().catch(() => null);
      const message = res.ok ? '' : (data && data.error) || `Go live failed (HTTP ${res.status}).`;
      return { ok: res.ok, status: res.status, data, message };
    } catch (_) {
      return { ok: false, status: 0, data: null, message: 'Cannot reach the server.' };
    }
  }

  // ---------------------------------------------------------------- start

  if (!event) {
    setStatus('This page is /preview/{event}.', true);
  } else if (!token) {
    // Opened from the console: its session may moderate the event.
    Q.request('GET', '/api/admin/session').then((r) => {
      if (r.ok && r.data && typeof r.data.csrf_token === 'string') {
        csrf = r.data.csrf_token;
        poll();
      } else {
        askForToken();
      }
    });
  } else {
    poll();
  }
})();
