// Amphi moderator page (/moderate/{event}#token=…): every question of the event by status
// (pending, approved, answered, hidden) with counts, live over SSE, and the moderator's
// actions: approve, hide, answer, pin, unpin, and ban the asker. The token comes from the
// URL fragment (or sessionStorage) and goes only into the Authorization header, and the
// SSE URL the API asks for. Needs qa-core.js. Everything from the API is set with
// textContent.
//
// Chapters: "Add chapter" marks the current program time of the live (the end of the
// live playlist, read from /live/{event}/master.m3u8 and its first rendition) with a
// title; "Mark answered" sends that program time too, so the answered question becomes
// a marker at the moment it was answered. Viewers see both on their seek bars, carried
// by the playlists as EXT-X-DATERANGE.
(function () {
  'use strict';

  const Q = window.AmphiQa;
  const el = Q.el;
  const $ = (id) => document.getElementById(id);
  const statusEl = $('mod-status');
  const tokenForm = $('mod-token-form');
  const tokenInput = $('mod-token');
  const tabsEl = $('mod-tabs');
  const list = $('mod-list');
  const panel = $('mod-panel');
  const emptyEl = $('mod-empty');
  const liveEl = $('mod-live');
  const titleEl = $('title');

  const event = Q.eventFromPath(location.pathname);
  const TAB_KEY = 'amphi.moderate.tab';
  const LABELS = { pending: 'Pending', approved: 'Approved', answered: 'Answered', hidden: 'Hidden' };
  const ACTIONS = {
    approve: { label: 'Approve', when: (q) => q.status !== 'approved' },
    answer: { label: 'Mark answered', when: (q) => q.status === 'pending' || q.status === 'approved' },
    pin: { label: 'Pin', when: (q) => !q.pinned && (q.status === 'approved' || q.status === 'answered') },
    unpin: { label: 'Unpin', when: (q) => q.pinned },
    hide: { label: 'Hide', when: (q) => q.status !== 'hidden' },
  };

  let tab = Q.storageGet('sessionStorage', TAB_KEY, 'pending');
  if (Q.STATUSES.indexOf(tab) < 0) tab = 'pending';
  let token = null;
  let store = null;
  const rows = new Map();
  const banned = new Set();
  const tabButtons = {};

  const setStatus = Q.statusLine(statusEl);

  if (!event) {
    setStatus('There is no such event. Check the link.', true);
    return;
  }
  titleEl.textContent = 'Moderate · ' + event;

  // ---------------------------------------------------------------- tabs

  for (const s of Q.STATUSES) {
    const b = el('button', 'tab');
    b.type = 'button';
    b.id = 'tab-' + s;
    b.dataset.status = s;
    b.setAttribute('role', 'tab');
    b.setAttribute('aria-controls', 'mod-panel');
    const label = el('span', 'tab-label', LABELS[s]);
    const count = el('span', 'tab-count', '0');
    // The visible text is the accessible name: "Pending 3".
    b.append(label, ' ', count);
    b.addEventListener('click', () => selectTab(s));
    b.addEventListener('keydown', (e) => {
      const i = Q.STATUSES.indexOf(s);
      let next = null;
      if (e.key === 'ArrowRight') next = Q.STATUSES[(i + 1) % Q.STATUSES.length];
      else if (e.key === 'ArrowLeft') next = Q.STATUSES[(i + Q.STATUSES.length - 1) % Q.STATUSES.length];
      else if (e.key === 'Home') next = Q.STATUSES[0];
      else if (e.key === 'End') next = Q.STATUSES[Q.STATUSES.length - 1];
      if (next) {
        e.preventDefault();
        selectTab(next);
        tabButtons[next].button.focus();
      }
    });
    tabButtons[s] = { button: b, count };
    tabsEl.append(b);
  }

  function selectTab(s) {
    tab = s;
    Q.storageSet('sessionStorage', TAB_KEY, s);
    render();
  }

  // ---------------------------------------------------------------- program time

  // The program time (ms) at the end of a media playlist: its last
  // EXT-X-PROGRAM-DATE-TIME plus what is listed after it (the parts of an open segment,
  // or the EXTINF of a complete one, which its parts add up to).
  function playlistEnd(text) {
    let base = NaN;
    let parts = 0;
    let whole = null;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
        base = Date.parse(line.slice(25));
        parts = 0;
        whole = null;
      } else if (line.startsWith('#EXT-X-PART:')) {
        const d = /DURATION=([0-9.]+)/.exec(line);
        if (d) parts += Number(d[1]);
      } else if (line.startsWith('#EXTINF:')) {
        whole = parseFloat(line.slice(8));
      }
    }
    if (!Number.isFinite(base)) return null;
    const after = whole != null && Number.isFinite(whole) ? whole : parts;
    return Math.round(base + after * 1000);
  }

  // The live edge's program time, or null when the event is not live.
  async function liveProgramTime() {
    const base = '/live/' + encodeURIComponent(event) + '/';
    try {
      const master = await fetch(base + 'master.m3u8', { cache: 'no-store' });
      if (!master.ok) return null;
      const uri = (await master.text()).split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
      if (!uri || /^[a-z]+:|^\//i.test(uri)) return null;
      const media = await fetch(base + uri, { cache: 'no-store' });
      return media.ok ? playlistEnd(await media.text()) : null;
    } catch (_) {
      return null;
    }
  }

  // ---------------------------------------------------------------- chapters

  const chaptersEl = $('mod-chapters');
  const chapterForm = $('mod-chapter-form');
  const chapterText = $('mod-chapter-text');
  const chapterAdd = $('mod-chapter-add');
  const chapterStatus = $('mod-chapter-status');
  const chapterList = $('mod-chapter-list');
  const chaptersUrl = '/api/events/' + encodeURIComponent(event) + '/chapters';

  function chapterNote(text, isError) {
    chapterStatus.textContent = text;
    chapterStatus.hidden = text === '';
    chapterStatus.classList.toggle('error', !!isError);
  }

  function clockOf(ms) {
    return Q.formatClock ? Q.formatClock(ms) : new Date(ms).toISOString();
  }

  async function loadChapters() {
    const r = await Q.request('GET', chaptersUrl, { token });
    if (!r.ok || !r.data || !Array.isArray(r.data.chapters)) return;
    chapterList.replaceChildren(
      ...r.data.chapters.map((c) => {
        const li = el('li', 'mod-chapter mod-chapter-' + (c.kind === 'question' ? 'question' : 'chapter'));
        li.dataset.id = String(c.id);
        li.append(
          el('span', 'mod-chapter-time', clockOf(c.program_time)),
          ' ',
          el('span', 'mod-chapter-text', (c.kind === 'question' ? 'Answered: ' : '') + String(c.text)),
        );
        return li;
      }),
    );
  }

  chapterForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = chapterText.value.trim();
    if (!text) {
      chapterNote('Type a chapter title first.', true);
      chapterText.focus();
      return;
    }
    chapterAdd.disabled = true;
    const programTime = await liveProgramTime();
    if (programTime == null) {
      chapterAdd.disabled = false;
      chapterNote('The event is not live: a chapter marks a moment of the live.', true);
      return;
    }
    const r = await Q.request('POST', chaptersUrl, { token, body: { text, program_time: programTime } });
    chapterAdd.disabled = false;
    if (r.ok) {
      chapterText.value = '';
      chapterNote('Chapter added at ' + clockOf(programTime) + '.');
      loadChapters();
    } else if (r.status === 401) {
      askForToken('The token was refused.');
    } else {
      chapterNote(r.message, true);
    }
  });

  // ---------------------------------------------------------------- actions

  async function act(q, action, button) {
    button.disabled = true;
    const url = Q.apiBase(event) + '/questions/' + encodeURIComponent(String(q.id)) + '/' + action;
    // Answered at this moment of the live: the question becomes a marker there.
    const at = action === 'answer' ? await liveProgramTime() : null;
    const body = {};
    if (at != null) body.program_time = at;
    const row = rows.get(String(q.id));
    const answer = action === 'answer' && row ? row.answerBox.value.trim() : '';
    if (answer) body.answer = answer;
    const r = await Q.request('POST', url, Object.keys(body).length ? { token, body } : { token });
    if (r.ok && row && answer) row.answerBox.value = '';
    if (r.ok && action === 'answer') loadChapters();
    if (r.ok) {
      const updated = r.data && typeof r.data === 'object' ? r.data.question || r.data : null;
      if (updated && updated.id != null && typeof updated.text === 'string') store.upsert(updated);
      else store.scheduleRefetch(0);
      setStatus('');
      render();
    } else {
      button.disabled = false;
      if (r.status === 401) askForToken('The token was refused.');
      else setStatus(r.message, true);
    }
  }

  // Viewer → time until which a ban is armed: kept apart from the button, which a live
  // update may redraw between the two clicks.
  const armedBans = new Map();

  async function ban(q, button) {
    // Two steps instead of a dialog: the first click arms the ban for 5 s.
    if (!((armedBans.get(q.viewer) || 0) > Date.now())) {
      armedBans.set(q.viewer, Date.now() + 5000);
      button.dataset.armed = '1';
      button.textContent = 'Confirm ban';
      button.classList.add('btn-danger');
      setTimeout(() => {
        if (button.isConnected && button.dataset.armed === '1') {
          button.dataset.armed = '';
          button.textContent = 'Ban asker';
          button.classList.remove('btn-danger');
        }
      }, 5000);
      return;
    }
    armedBans.delete(q.viewer);
    button.dataset.armed = '';
    button.disabled = true;
    const r = await Q.request('POST', Q.apiBase(event) + '/bans', { token, body: { viewer: q.viewer } });
    if (r.ok) {
      banned.add(q.viewer);
      setStatus('Banned the asker of “' + truncate(q.text, 60) + '”.');
      store.scheduleRefetch(0);
      render();
    } else {
      button.disabled = false;
      if (r.status === 401) askForToken('The token was refused.');
      else setStatus(r.message, true);
    }
  }

  function truncate(s, n) {
    const chars = Array.from(s);
    return chars.length > n ? chars.slice(0, n - 1).join('') + '…' : s;
  }

  // ---------------------------------------------------------------- list

  function rowFor(q) {
    const id = String(q.id);
    let row = rows.get(id);
    if (row) return row;
    const li = el('li', 'mod-item');
    li.dataset.id = id;
    const meta = el('div', 'qa-meta');
    const who = el('span', 'qa-who');
    const info = el('span', 'mod-info');
    const badges = el('span', 'qa-badges');
    meta.append(who, badges, info);
    const text = el('p', 'qa-text');
    const answer = el('p', 'qa-answer');
    answer.hidden = true;
    // The answer sent with "Mark answered" (optional; kept across re-renders).
    const answerBox = el('textarea', 'mod-answer');
    answerBox.rows = 2;
    answerBox.maxLength = 1000;
    answerBox.placeholder = 'Answer (optional), sent with Mark answered';
    answerBox.setAttribute('aria-label', 'Answer to this question (optional)');
    const buttons = el('div', 'mod-actions');
    li.append(meta, text, answer, answerBox, buttons);
    row = { li, who, info, badges, text, answer, answerBox, buttons, key: '' };
    rows.set(id, row);
    return row;
  }

  function updateRow(row, q) {
    row.li.dataset.status = q.status;
    row.li.classList.toggle('is-pinned', q.pinned);
    if (row.text.textContent !== q.text) row.text.textContent = q.text;
    const answer = typeof q.answer === 'string' ? q.answer : '';
    if (row.answer.textContent !== answer) row.answer.textContent = answer;
    row.answer.hidden = !answer;
    row.answerBox.hidden = !ACTIONS.answer.when(q);
    const viewer = typeof q.viewer === 'string' ? q.viewer : '';
    row.who.textContent = (q.name ? q.name : 'Anonymous') + (viewer ? ' · ' + viewer.slice(0, 8) : '');
    row.who.title = viewer ? 'viewer ' + viewer : '';
    const parts = [q.votes + (q.votes === 1 ? ' vote' : ' votes')];
    if (Number.isFinite(q.created_at)) parts.push('asked ' + Q.formatClock(q.created_at));
    if (Number.isFinite(q.program_time)) parts.push('at stream time ' + Q.formatClock(q.program_time));
    row.info.textContent = parts.join(' · ');
    const badges = [];
    if (q.pinned) badges.push(el('span', 'qa-badge qa-badge-pinned', 'Pinned'));
    if (viewer && banned.has(viewer)) badges.push(el('span', 'qa-badge qa-badge-banned', 'Asker banned'));
    row.badges.replaceChildren(...badges);

    const wanted = Object.keys(ACTIONS).filter((a) => ACTIONS[a].when(q));
    const canBan = viewer && !banned.has(viewer);
    const key = wanted.join(',') + (canBan ? ',ban' : '');
    if (key === row.key) return;
    row.key = key;
    const buttons = wanted.map((a) => {
      const b = el('button', 'btn mod-' + a + (a === 'approve' ? ' btn-accent' : ''), ACTIONS[a].label);
      b.type = 'button';
      b.dataset.action = a;
      b.addEventListener('click', () => act(store.questions.get(String(q.id)) || q, a, b));
      return b;
    });
    if (canBan) {
      const b = el('button', 'btn mod-ban', 'Ban asker');
      b.type = 'button';
      b.dataset.action = 'ban';
      b.addEventListener('click', () => ban(store.questions.get(String(q.id)) || q, b));
      buttons.push(b);
    }
    row.buttons.replaceChildren(...buttons);
  }

  function render() {
    if (!store) return;
    const counts = { pending: 0, approved: 0, answered: 0, hidden: 0 };
    for (const q of store.questions.values()) counts[q.status]++;
    for (const s of Q.STATUSES) {
      const t = tabButtons[s];
      t.count.textContent = String(counts[s]);
      t.button.setAttribute('aria-selected', s === tab ? 'true' : 'false');
      t.button.tabIndex = s === tab ? 0 : -1;
    }
    panel.setAttribute('aria-labelledby', 'tab-' + tab);
    const shown = store.list((q) => q.status === tab);
    // Pending: oldest first (a queue); the others: as viewers see them.
    if (tab === 'pending') shown.sort((a, b) => Number(a.id) - Number(b.id) || String(a.id).localeCompare(String(b.id)));
    else shown.sort(Q.byDisplayOrder);
    const items = shown.map((q) => {
      const row = rowFor(q);
      updateRow(row, q);
      return row.li;
    });
    Q.reconcile(list, items);
    for (const [id, row] of rows) if (!row.li.isConnected && !store.questions.has(id)) rows.delete(id);
    emptyEl.hidden = items.length > 0;
    document.title = (counts.pending ? '(' + counts.pending + ') ' : '') + 'Moderate ' + event + ' · Amphi';
  }

  // ---------------------------------------------------------------- token + start

  const tokenPrompt = Q.moderatorTokenForm({ form: tokenForm, input: tokenInput, event, setStatus, onToken: start });

  function askForToken(why) {
    if (store) store.close();
    store = null;
    tabsEl.hidden = true;
    chaptersEl.hidden = true;
    list.replaceChildren();
    rows.clear();
    emptyEl.hidden = true;
    tokenPrompt.ask(why);
  }

  function start(t) {
    token = t;
    tokenForm.hidden = true;
    tabsEl.hidden = false;
    chaptersEl.hidden = false;
    loadChapters();
    setStatus('Loading…');
    store = new Q.QuestionStore({
      event,
      moderator: true,
      token,
      onChange: render,
      onStatus: (s) => {
        if (s.live !== undefined) liveEl.classList.toggle('on', s.live === true);
        if (s.ok) {
          if (statusEl.textContent === 'Loading…' || statusEl.textContent.startsWith('Cannot')) setStatus('');
        } else if (s.status === 401) {
          askForToken('The token was refused.');
        } else if (s.status === 404) {
          setStatus('Q&A is not available for this event.', true);
        } else {
          setStatus(s.message || 'Cannot reach the server. Retrying…', true);
          if (store) store.scheduleRefetch(5000);
        }
      },
    });
    store.start();
    render();
  }

  const initial = Q.moderatorToken(event);
  if (initial) start(initial);
  else askForToken();

  window.amphiModerator = Object.freeze({
    get store() {
      return store;
    },
    selectTab,
  });
})();
