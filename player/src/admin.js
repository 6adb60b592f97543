// The operator's console (/admin): log in, list, create and edit events, reveal, copy and
// rotate stream keys, copy OBS and embed settings, end a live event, list, download and
// delete recordings; on an event's page, its live checks (refreshed every second from
// /api/events/{event}/health) and Go live for an event in preview. Talks to /api/admin/…
// and those two routes with the session cookie and, on every request
// that changes something, the session's CSRF token in X-CSRF-Token. Text from the server
// is only ever put into the page with textContent.
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const H = window.AmphiHealth;
  const HEALTH_POLL_MS = 1000;
  let csrf = null;
  let me = null;
  let editing = null; // id of the event in the form, or null for a new one
  let current = null; // id of the event shown in detail
  let revealedKey = null;
  let healthTimer = null;

  function say(text) {
    $('message').textContent = text;
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch (_) {
        data = null;
      }
    }
    if (res.status === 401 && path !== '/api/admin/login') {
      showLogin((data && data.error) || 'Please log in.');
    }
    if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
    return data;
  }

  function show(section) {
    if (section !== 'detail-section') clearTimeout(healthTimer);
    for (const id of ['login-section', 'events-section', 'form-section', 'detail-section']) {
      $(id).hidden = id !== section;
    }
  }

  function showLogin(text) {
    csrf = null;
    me = null;
    $('who').hidden = true;
    show('login-section');
    say(text || '');
    $('login-user').focus();
  }

  function loggedIn(session) {
    csrf = session.csrf_token;
    me = session;
    $('who-name').textContent = `${session.user} (${session.roles.join(', ')})`;
    $('who').hidden = false;
    $('new-event').hidden = !session.admin;
    return loadEvents();
  }

  function formatStart(s) {
    if (!s) return '—';
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
  }

  function button(label, onClick, extra) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    if (extra) b.setAttribute('aria-label', extra);
    b.addEventListener('click', onClick);
    return b;
  }

  function cell(row, text) {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  async function loadEvents() {
    const events = await api('GET', '/api/admin/events');
    const body = $('events-body');
    body.replaceChildren();
    for (const e of events) {
      const tr = document.createElement('tr');
      tr.dataset.id = e.id;
      cell(tr, e.id);
      cell(tr, e.title);
      cell(tr, formatStart(e.starts_at));
      cell(tr, (e.private ? 'private' : 'public') + (e.named_viewers ? ', named' : ''));
      const status = cell(tr, e.live ? (e.preview ? 'Live in preview' : 'Live') : e.preview ? 'In preview' : 'Not live');
      status.className = e.live ? 'live status' : 'status';
      const actions = cell(tr, '');
      actions.append(
        button('Open', () => openEvent(e.id), `Open ${e.title}`),
        button('Edit', () => editEvent(e), `Edit ${e.title}`),
      );
      if (me && me.admin) {
        actions.append(button('Delete', () => deleteEvent(e), `Delete ${e.title}`));
      }
      body.appendChild(tr);
    }
    if (!events.length) say(me && me.admin ? 'No event yet: create one.' : 'No event is assigned to you.');
    show('events-section');
  }

  function toLocalInput(s) {
    if (!s) return '';
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) return '';
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function editEvent(e) {
    editing = e ? e.id : null;
    $('form-title').textContent = e ? `Edit ${e.title}` : 'New event';
    $('f-id').value = e ? e.id : '';
    $('f-id').disabled = !!e;
    $('f-title').value = e ? e.title : '';
    $('f-description').value = (e && e.description) || '';
    $('f-starts').value = toLocalInput(e && e.starts_at);
    const priv = !!(e && e.private);
    for (const r of document.querySelectorAll('input[name="viewers"]')) r.checked = r.value === (priv ? 'private' : 'public');
    $('f-named').checked = !!(e && e.named_viewers);
    $('f-preview').checked = !!(e && e.preview);
    $('f-takeover').value = (e && e.takeover) || 'take_over';
    show('form-section');
    (e ? $('f-title') : $('f-id')).focus();
  }

  async function saveEvent(ev) {
    ev.preventDefault();
    const starts = $('f-starts').value;
    const changes = {
      title: $('f-title').value,
      description: $('f-description').value,
      starts_at: starts ? new Date(starts).toISOString() : '',
      private: document.querySelector('input[name="viewers"]:checked').value === 'private',
      named_viewers: $('f-named').checked,
      preview: $('f-preview').checked,
      takeover: $('f-takeover').value,
    };
    try {
      if (editing) {
        await api('PATCH', `/api/admin/events/${encodeURIComponent(editing)}`, changes);
        say(`Saved ${changes.title}.`);
      } else {
        const created = await api('POST', '/api/admin/events', { id: $('f-id').value, ...changes });
        say(`Created ${created.title}.`);
      }
      await loadEvents();
    } catch (e) {
      say(`Not saved: ${e.message}`);
    }
  }

  async function deleteEvent(e) {
    if (!window.confirm(`Delete the event ${e.title}? Its key stops working.`)) return;
    try {
      await api('DELETE', `/api/admin/events/${encodeURIComponent(e.id)}`);
      say(`Deleted ${e.title}.`);
      await loadEvents();
    } catch (err) {
      say(`Not deleted: ${err.message}`);
    }
  }

  function formatDuration(s) {
    const t = Math.round(s);
    const h = Math.floor(t / 3600);
    const m = Math.floor((t % 3600) / 60);
    const sec = t % 60;
    return (h ? `${h} h ` : '') + `${m} min ${sec} s`;
  }

  function formatSize(bytes) {
    if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
    if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
    return `${Math.round(bytes / 1e3)} kB`;
  }

  function hideKey() {
    revealedKey = null;
    $('d-key').textContent = '••••••••';
    $('d-reveal').textContent = 'Show key';
    $('d-reveal').setAttribute('aria-expanded', 'false');
  }

  async function openEvent(id) {
    current = id;
    hideKey();
    try {
      const info = await api('GET', `/api/admin/events/${encodeURIComponent(id)}/publish`);
      $('detail-title').textContent = id;
      $('d-rtmp').textContent = info.rtmp_server || '(no RTMP on this server)';
      $('d-whip').textContent = info.whip_url;
      const obs = info.obs;
      $('d-obs').textContent =
        `Keyframe interval ${obs.keyframe_interval_s} s, ${obs.rate_control} ${obs.video_bitrate_kbps} kb/s, ` +
        `audio ${obs.audio_bitrate_kbps} kb/s, profile ${obs.profile}, tune ${obs.tune}`;
      $('d-watch').textContent = info.watch_url;
      $('d-watch').href = info.watch_url;
      $('d-iframe').textContent = info.embed.iframe;
      $('d-script').textContent = info.embed.script;
      show('detail-section');
      $('detail-title').setAttribute('tabindex', '-1');
      $('detail-title').focus();
      $('d-live-note').textContent = '';
      $('d-checks').replaceChildren();
      $('d-greenroom').href = `/preview/${encodeURIComponent(id)}`;
      pollHealth(id);
      await loadRecordings();
    } catch (e) {
      say(`Cannot open ${id}: ${e.message}`);
    }
  }

  function clock(iso) {
    const d = new Date(iso);
    return Number.isFinite(d.getTime()) ? d.toLocaleTimeString() : iso;
  }

  function renderHealth(d) {
    const stage = d.stage || {};
    const stageEl = $('d-stage');
    if (stage.preview) {
      stageEl.textContent = 'In preview: students see the waiting room';
      stageEl.className = 'badge badge-off';
    } else {
      stageEl.textContent = stage.went_live_at ? `Open to students since ${clock(stage.went_live_at)}` : 'Open to students';
      stageEl.className = 'badge badge-live';
    }
    $('d-golive').hidden = !stage.preview;
    H.levelBadge($('d-overall'), d.overall);
    H.renderChecks($('d-checks'), d.checks);
    $('d-health-note').textContent = d.publishing ? '' : 'No stream: start streaming in OBS to see its checks.';
  }

  // The event's checks, every second while its page is shown.
  async function pollHealth(id) {
    clearTimeout(healthTimer);
    if (current !== id || $('detail-section').hidden) return;
    try {
      renderHealth(await api('GET', `/api/events/${encodeURIComponent(id)}/health`));
    } catch (e) {
      $('d-health-note').textContent = `Health unavailable: ${e.message}`;
    }
    if (current === id && !$('detail-section').hidden && csrf) {
      healthTimer = setTimeout(() => pollHealth(id), HEALTH_POLL_MS);
    }
  }

  async function goLive() {
    const id = current;
    $('d-golive').disabled = true;
    $('d-live-note').textContent = 'Opening the event to students…';
    try {
      const r = await api('POST', `/api/events/${encodeURIComponent(id)}/go-live`);
      $('d-golive').hidden = true;
      $('d-live-note').textContent = `Live since ${clock(r.went_live_at)}: the lecture starts there in the recording.`;
    } catch (e) {
      $('d-live-note').textContent = `Go live failed: ${e.message}`;
    } finally {
      $('d-golive').disabled = false;
    }
    pollHealth(id);
  }

  async function loadRecordings() {
    const recs = await api('GET', `/api/admin/events/${encodeURIComponent(current)}/recordings`);
    const body = $('rec-body');
    body.replaceChildren();
    for (const r of recs) {
      const tr = document.createElement('tr');
      tr.dataset.rendition = r.rendition;
      cell(tr, r.rendition);
      cell(tr, formatDuration(r.duration_s));
      cell(tr, formatSize(r.size_bytes));
      const actions = cell(tr, '');
      const a = document.createElement('a');
      a.href = r.download_url;
      a.textContent = 'Download MP4';
      a.setAttribute('download', '');
      actions.appendChild(a);
      body.appendChild(tr);
    }
    if (!recs.length) {
      const tr = document.createElement('tr');
      const td = cell(tr, 'No recording yet.');
      td.colSpan = 4;
      body.appendChild(tr);
    }
  }

  async function revealKey() {
    if (revealedKey) {
      hideKey();
      return;
    }
    try {
      const s = await api('GET', `/api/admin/events/${encodeURIComponent(current)}/key`);
      revealedKey = s.stream_key;
      $('d-key').textContent = s.stream_key;
      $('d-reveal').textContent = 'Hide key';
      $('d-reveal').setAttribute('aria-expanded', 'true');
    } catch (e) {
      say(`Cannot show the key: ${e.message}`);
    }
  }

  async function copy(text, what) {
    try {
      await navigator.clipboard.writeText(text);
      say(`${what} copied.`);
    } catch (e) {
      say(`Copy failed (${e.message}): select the text and copy it.`);
    }
  }

  async function copyKey() {
    try {
      const s = await api('GET', `/api/admin/events/${encodeURIComponent(current)}/key`);
      await copy(s.stream_key, 'Stream key');
    } catch (e) {
      say(`Cannot copy the key: ${e.message}`);
    }
  }

  async function rotateKey() {
    if (!window.confirm('Replace the stream key? The encoder must use the new one.')) return;
    try {
      await api('POST', `/api/admin/events/${encodeURIComponent(current)}/key/rotate`);
      hideKey();
      say('New stream key made: show or copy it.');
    } catch (e) {
      say(`Key not rotated: ${e.message}`);
    }
  }

  async function endLive() {
    try {
      await api('POST', `/api/admin/events/${encodeURIComponent(current)}/end`);
      say('The publisher was disconnected.');
    } catch (e) {
      say(`Not ended: ${e.message}`);
    }
  }

  async function deleteRecordings() {
    if (!window.confirm('Delete the recordings of this event?')) return;
    try {
      const r = await api('DELETE', `/api/admin/events/${encodeURIComponent(current)}/recordings`);
      say(`Deleted ${r.deleted_objects} recorded files.`);
      await loadRecordings();
    } catch (e) {
      say(`Not deleted: ${e.message}`);
    }
  }

  async function login(ev) {
    ev.preventDefault();
    try {
      const session = await api('POST', '/api/admin/login', {
        user: $('login-user').value,
        password: $('login-password').value,
      });
      $('login-password').value = '';
      say('');
      await loggedIn(session);
    } catch (e) {
      say(`Login refused: ${e.message}`);
    }
  }

  async function logout() {
    try {
      await api('POST', '/api/admin/logout');
    } catch (_) {
      /* the session is gone either way */
    }
    showLogin('Logged out.');
  }

  function init() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    $('new-event').addEventListener('click', () => editEvent(null));
    $('event-form').addEventListener('submit', saveEvent);
    $('f-cancel').addEventListener('click', () => loadEvents().catch((e) => say(e.message)));
    $('d-reveal').addEventListener('click', revealKey);
    $('d-copy-key').addEventListener('click', copyKey);
    $('d-rotate').addEventListener('click', rotateKey);
    $('d-end').addEventListener('click', endLive);
    $('d-golive').addEventListener('click', goLive);
    $('d-delete-rec').addEventListener('click', deleteRecordings);
    $('d-close').addEventListener('click', () => loadEvents().catch((e) => say(e.message)));
    for (const b of document.querySelectorAll('button.copy')) {
      b.addEventListener('click', () => copy($(b.dataset.copy).textContent, b.textContent.replace(/^Copy /, '')));
    }
    // The events table follows the lectures going live and ending.
    setInterval(() => {
      if (!$('events-section').hidden && csrf) loadEvents().catch(() => {});
    }, 3000);
    // The institution's login (OpenID Connect), when the server has one set up.
    fetch('/admin/oidc/status', { credentials: 'same-origin', cache: 'no-store' })
      .then((res) => (res.ok ? res.json() : null))
      .then((oidc) => {
        if (!oidc || !oidc.enabled) return;
        $('oidc-link').textContent = oidc.label;
        $('oidc-login').hidden = false;
      })
      .catch(() => {});
    fetch('/api/admin/session', { credentials: 'same-origin', cache: 'no-store' })
      .then((res) => (res.ok ? res.json().then(loggedIn) : showLogin('')))
      .catch(() => showLogin('The server cannot be reached.'));
  }

  init();
})();
