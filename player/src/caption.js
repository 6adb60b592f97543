// Amphi captioner page (/caption/{event}#token=…): a person watches the live lecture and
// types; each line (Enter) becomes a cue starting at the program time of the frame on
// screen when Enter is pressed, shown for a time that grows with its length. Up arrow
// brings the last line back to correct it: it is sent again with the same id, which the
// server accepts until the line is published to viewers, about half a second after it
// was first sent (then it answers 409).
// The moderator token comes from the URL fragment (or sessionStorage, shared with the
// moderator page) and goes only into the Authorization header; its form and the status
// line are qa-core.js's. Everything shown is set with textContent.
(function () {
  'use strict';

  const Q = window.AmphiQa;
  const $ = (id) => document.getElementById(id);
  const statusEl = $('cap-status');
  const tokenForm = $('cap-token-form');
  const tokenInput = $('cap-token');
  const video = $('cap-video');
  const timeEl = $('cap-time');
  const form = $('cap-form');
  const line = $('cap-line');
  const sent = $('cap-sent');
  const MIN_MS = 2000;
  const PER_CHAR_MS = 60;
  const MAX_MS = 7000;

  const event = Q.eventFromPath(location.pathname);
  let token = null;
  let hls = null;
  let last = null; // { id, start, end, text, li }
  let counter = 0;

  const setStatus = Q.statusLine(statusEl);

  if (!event) {
    setStatus('There is no such event. Check the link.', true);
    return;
  }
  $('title').textContent = 'Live captions · ' + event;

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
      tokenPrompt.ask('The moderator token was refused.');
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
  const tokenPrompt = Q.moderatorTokenForm({
    form: tokenForm,
    input: tokenInput,
    event,
    setStatus,
    prompt: 'Enter the moderator token to caption this event.',
    onToken: (t) => {
      token = t;
      setStatus('', false);
    },
  });
  token = Q.moderatorToken(event);
  if (!token) tokenPrompt.ask();
  else setStatus('', false);
  startPlayer();
  line.focus();
})();
