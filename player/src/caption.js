// Amphi captioner page (/caption/{event}#token=…): a person watches the live lecture and
// types; each line (Enter) becomes a cue starting at the program time of the frame on
// screen when Enter is pressed, shown for a time that grows with its length. Up arrow
// brings the last line back to correct it: it is sent again with the same id, which the
// server accepts until the line is published to viewers, about half a second after it
// was first sent (then it answers 409).
// The token comes from the URL fragment (or sessionStorage) and goes only into the
// Authorization header. Everything shown is set with textContent.
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const statusEl = $('cap-status');
  const tokenForm = $('cap-token-form');
  const tokenInput = $('cap-token');
  const video = $('cap-video');
  const timeEl = $('cap-time');
  const form = $('cap-form');
  const line = $('cap-line');
  const sent = $('cap-sent');
  const TOKEN_KEY = 'amphi.caption.token';
  const MIN_MS = 2000;
  const PER_CHAR_MS = 60;
  const MAX_MS = 7000;

  const m = /^\/caption\/([a-z0-9_-]{1,64})\/?$/.exec(location.pathname);
  const event = m ? m[1] : null;
  let token = null;
  let hls = null;
  let last = null; // { id, start, end, text, li }
  let counter = 0;

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.hidden = text === '';
    statusEl.classList.toggle('error', !!isError);
    statusEl.setAttribute('role', isError ? 'alert' : 'status');
  }

  if (!event) {
    setStatus('There is no such event. Check the link.', true);
    return;
  }
  $('title').textContent = 'Live captions · ' + event;

  function readToken() {
    const frag = new URLSearchParams(location.hash.slice(1)).get('token');
    if (frag) {
      try { sessionStorage.setItem(TOKEN_KEY + '.' + event, frag); } catch (_) { /* private mode */ }
      history.replaceState(null, '', location.pathname + location.search);
      return frag;
    }
    try { return sessionStorage.getItem(TOKEN_KEY + '.' + event); } catch (_) { return null; }
  }

  // Program time (Unix ms) of the frame on screen, else the server-aligned wall clock.
  function programNow() {
    const d = hls && hls.playingDate;
    if (d && !isNaN(d.getTime())) return d.getTime();
    return Date.now();
  }

  function displayMs(text) {
    return Math.max(MIN_MS, Math.min(MAX_MS, MIN_MS + PER_CHAR_MS * text.length));
  }

  function startPlayer() {
    const src = '/live/' + event + '/master.m3u8';
    if (window.Hls && window.Hls.isSupported()) {
      // Caught up as the viewers' player is (up to 1.5x, player/src/player/main.js): a
      // captioner further behind the live edge than the viewers stamps lines at a
      // program time the viewers have already passed.
      hls = new window.Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 });
      hls.loadSource(src);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.ERROR, (_, data) => {
        if (data.fatal) setTimeout(() => { hls.loadSource(src); hls.startLoad(); }, 2000);
      });
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
    }
    setInterval(() => {
      const d = hls && hls.playingDate;
      timeEl.textContent = d && !isNaN(d.getTime()) ? 'Program time ' + d.toISOString().slice(11, 23) : 'Program time –';
    }, 250);
  }

  async function post(cue) {
    const res = await fetch('/api/events/' + event + '/captions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
      body: JSON.stringify({ cues: [cue] }),
    });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    return { status: res.status, body };
  }

  async function send(text, correcting) {
    const id = correcting ? last.id : 'l' + Date.now().toString(36) + '-' + (++counter);
    const start = correcting ? last.start : programNow();
    const cue = { id, start, end: start + displayMs(text), text };
    const li = correcting ? last.li : document.createElement('li');
    li.textContent = text;
    delete li.dataset.start;
    delete li.dataset.end;
    if (!correcting) sent.prepend(li);
    const { status, body } = await post(cue);
    if (status === 401 || status === 403) {
      setStatus('The moderator token was refused.', true);
      tokenForm.hidden = false;
      return;
    }
    if (status === 409) {
      setStatus('Too late to correct: that line is already published.', true);
      return;
    }
    if (status !== 200) {
      setStatus((body && body.error) || 'The line was not accepted (' + status + ').', true);
      return;
    }
    const r = body && body.results && body.results[0];
    if (r && typeof r.start === 'number') {
      cue.start = r.start;
      cue.end = r.end;
      li.dataset.start = String(r.start);
      li.dataset.end = String(r.end);
    }
    li.dataset.status = r ? r.status : '';
    last = { id, start: cue.start, end: cue.end, text, li };
    setStatus('', false);
  }

  let correcting = false;
  line.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowUp' && last && line.value === '') {
      e.preventDefault();
      line.value = last.text;
      correcting = true;
      setStatus('Correcting the last line: Enter sends it again.', false);
    } else if (e.key === 'Escape' && correcting) {
      line.value = '';
      correcting = false;
      setStatus('', false);
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = line.value.trim();
    if (!text || !token) return;
    const fix = correcting;
    line.value = '';
    correcting = false;
    send(text, fix).catch(() => setStatus('The line could not be sent: check the connection.', true));
  });
  tokenForm.addEventListener('submit', (e) => {
    e.preventDefault();
    token = tokenInput.value.trim();
    try { sessionStorage.setItem(TOKEN_KEY + '.' + event, token); } catch (_) { /* private mode */ }
    tokenForm.hidden = true;
    setStatus('', false);
  });

  token = readToken();
  if (!token) {
    setStatus('Enter the moderator token to caption this event.', false);
    tokenForm.hidden = false;
  } else {
    setStatus('', false);
  }
  startPlayer();
  line.focus();
})();
