// Amphi Q&A side panel for viewers (watch page, and the embed page with ?qa=1). Renders into
// <aside id="qa">: an ask box (500 characters, optional display name), and the approved and
// answered questions, pinned first then by votes, each with one upvote per viewer.
//
// In step with the video: a question carries the program time (EXT-X-PROGRAM-DATE-TIME) of
// the frame its asker was watching, and this panel shows it only once this viewer's own
// playback has reached that time, so nobody sees a question about a slide before the slide.
// Questions without a program time, and everything while this viewer is not playing, show
// at once.
//
// Needs qa-core.js (window.AmphiQa); uses window.amphiPlayer (player.js) when present.
(function () {
  'use strict';

  const Q = window.AmphiQa;
  const root = document.getElementById('qa');
  if (!Q || !root) return;
  // The embed page has the panel only when asked for (?qa=1).
  if (root.hasAttribute('data-optional')) {
    const v = new URLSearchParams(location.search).get('qa');
    if (v !== '1' && v !== 'true' && v !== '') {
      root.hidden = true;
      return;
    }
    document.body.classList.add('with-qa');
  }
  const event = Q.eventFromPath(location.pathname);
  if (!event) {
    root.hidden = true;
    return;
  }
  root.hidden = false;

  const SYNC_TICK_MS = 250;
  // Minted on first use (asking or voting), so opening the page costs no id.
  const identity = new Q.ViewerIdentity(event, Q.viewerToken());
  const VOTED_KEY = 'amphi.voted.' + event;
  const MINE_KEY = 'amphi.asked.' + event;
  const COLLAPSED_KEY = 'amphi.qa.collapsed';
  const NAME_KEY = 'amphi.name';
  const el = Q.el;

  const voted = new Set(Q.storageGet('localStorage', VOTED_KEY, []).map(String));
  const mine = new Set(Q.storageGet('localStorage', MINE_KEY, []).map(String));
  const revealed = new Set(); // shown once: never hidden again by the program-time rule
  const rows = new Map(); // id -> { li, ... }

  // ---------------------------------------------------------------- DOM

  const header = el('div', 'qa-header');
  const heading = el('h2', 'qa-heading', 'Questions');
  heading.id = 'qa-heading';
  const countEl = el('span', 'qa-count');
  countEl.setAttribute('aria-label', 'questions shown');
  const liveDot = el('span', 'qa-live');
  liveDot.title = 'Live updates';
  const toggle = el('button', 'btn qa-toggle', 'Hide');
  toggle.type = 'button';
  toggle.setAttribute('aria-controls', 'qa-body');
  header.append(heading, countEl, liveDot, toggle);

  const body = el('div', 'qa-body');
  body.id = 'qa-body';

  const form = el('form', 'qa-ask');
  form.id = 'qa-form';
  form.noValidate = true;
  const textLabel = el('label', 'qa-label', 'Ask a question');
  textLabel.htmlFor = 'qa-text';
  const textarea = el('textarea', 'qa-input');
  textarea.id = 'qa-text';
  textarea.name = 'text';
  textarea.rows = 3;
  textarea.maxLength = Q.MAX_TEXT;
  textarea.placeholder = 'Type your question…';
  textarea.setAttribute('aria-describedby', 'qa-counter');
  const counter = el('span', 'qa-counter', '0 / ' + Q.MAX_TEXT);
  counter.id = 'qa-counter';
  counter.setAttribute('aria-live', 'off');
  const nameLabel = el('label', 'qa-label qa-name-label', 'Your name (optional)');
  nameLabel.htmlFor = 'qa-name';
  const nameInput = el('input', 'qa-input qa-name');
  nameInput.id = 'qa-name';
  nameInput.name = 'name';
  nameInput.type = 'text';
  nameInput.maxLength = Q.MAX_NAME;
  nameInput.autocomplete = 'nickname';
  nameInput.placeholder = 'Anonymous';
  nameInput.value = Q.storageGet('localStorage', NAME_KEY, '') || '';
  // A named viewer token (private events) gives the name the server asks under.
  function showTokenName() {
    if (!identity.name) return;
    nameInput.value = identity.name;
    nameInput.readOnly = true;
    nameInput.title = 'Your name, from the link your course gave you';
  }
  showTokenName();
  const nameRow = el('div', 'qa-name-row');
  nameRow.append(nameLabel, nameInput);
  const submit = el('button', 'btn btn-accent qa-submit', 'Ask');
  submit.type = 'submit';
  const actions = el('div', 'qa-actions');
  actions.append(counter, submit);
  const formStatus = el('p', 'qa-status');
  formStatus.id = 'qa-form-status';
  formStatus.setAttribute('role', 'status');
  formStatus.setAttribute('aria-live', 'polite');
  formStatus.hidden = true;
  form.append(textLabel, textarea, nameRow, actions, formStatus);

  const panelStatus = el('p', 'qa-note');
  panelStatus.hidden = true;
  const emptyNote = el('p', 'qa-note qa-empty', 'No questions yet. Ask the first one!');
  const heldNote = el('p', 'qa-note qa-held');
  heldNote.hidden = true;
  const list = el('ol', 'qa-list');
  list.id = 'qa-list';
  list.setAttribute('aria-labelledby', 'qa-heading');
  // Screen readers hear of questions other viewers ask as they appear (not of those
  // already there when the page loads, nor of the viewer's own).
  const announcer = el('p', 'sr-only');
  announcer.id = 'qa-announce';
  announcer.setAttribute('role', 'status');
  announcer.setAttribute('aria-live', 'polite');
  announcer.setAttribute('aria-atomic', 'true');
  body.append(form, panelStatus, list, emptyNote, heldNote, announcer);

  root.classList.add('qa');
  root.setAttribute('aria-labelledby', 'qa-heading');
  root.replaceChildren(header, body);

  // ---------------------------------------------------------------- collapse

  function setCollapsed(collapsed) {
    body.hidden = collapsed;
    root.classList.toggle('collapsed', collapsed);
    document.body.classList.toggle('qa-collapsed', collapsed);
    toggle.textContent = collapsed ? 'Show' : 'Hide';
    toggle.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
    toggle.setAttribute('aria-label', collapsed ? 'Show questions' : 'Hide questions');
  }
  toggle.addEventListener('click', () => {
    const collapsed = !body.hidden;
    setCollapsed(collapsed);
    Q.storageSet('localStorage', COLLAPSED_KEY, collapsed);
  });
  setCollapsed(Q.storageGet('localStorage', COLLAPSED_KEY, false) === true);

  // ---------------------------------------------------------------- ask box

  function updateCounter() {
    const n = Array.from(textarea.value.trim()).length;
    counter.textContent = n + ' / ' + Q.MAX_TEXT;
    counter.classList.toggle('over', n > Q.MAX_TEXT);
  }
  textarea.addEventListener('input', updateCounter);
  // Enter sends, Shift+Enter starts a new line.
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit ? form.requestSubmit() : submit.click();
    }
  });

  let blockedUntil = 0;
  let banned = false;
  let blockTimer = null;

  function showFormStatus(text, kind) {
    formStatus.textContent = text;
    formStatus.className = 'qa-status' + (kind ? ' qa-status-' + kind : '');
    formStatus.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    formStatus.hidden = text === '';
  }

  function updateSubmit() {
    const waiting = Date.now() < blockedUntil;
    submit.disabled = banned || waiting || form.dataset.busy === '1';
    textarea.disabled = banned;
    if (waiting) {
      const s = Math.ceil((blockedUntil - Date.now()) / 1000);
      submit.textContent = 'Wait ' + s + ' s';
    } else {
      submit.textContent = 'Ask';
    }
  }

  function blockFor(seconds) {
    blockedUntil = Date.now() + Math.max(1, seconds) * 1000;
    clearInterval(blockTimer);
    blockTimer = setInterval(() => {
      updateSubmit();
      if (Date.now() >= blockedUntil) {
        clearInterval(blockTimer);
        blockTimer = null;
      }
    }, 500);
    updateSubmit();
  }

  function programTime() {
    const p = window.amphiPlayer;
    const t = p && typeof p.programTime === 'function' ? p.programTime() : null;
    return Number.isFinite(t) ? Math.round(t) : null;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    const text = textarea.value.trim();
    if (!text) {
      showFormStatus('Type a question first.', 'error');
      textarea.focus();
      return;
    }
    if (Array.from(text).length > Q.MAX_TEXT) {
      showFormStatus('Questions are at most ' + Q.MAX_TEXT + ' characters.', 'error');
      return;
    }
    const payload = { text };
    const name = nameRow.hidden ? '' : nameInput.value.trim();
    if (name) payload.name = name;
    Q.storageSet('localStorage', NAME_KEY, name);
    const pt = programTime();
    if (pt != null) payload.program_time = pt;

    form.dataset.busy = '1';
    updateSubmit();
    const r = await identity.request('POST', Q.apiBase(event) + '/questions', { body: payload });
    showTokenName();
    form.dataset.busy = '';
    if (r.ok) {
      textarea.value = '';
      updateCounter();
      const q = r.data && typeof r.data === 'object' ? r.data.question || r.data : null;
      if (q && q.id != null) {
        mine.add(String(q.id));
        Q.storageSet('localStorage', MINE_KEY, Array.from(mine).slice(-200));
        if (typeof q.text === 'string') {
          store.upsert(q);
          render();
        }
      }
      if (q && q.status === 'pending') showFormStatus('Sent. Your question will appear once a moderator approves it.', 'ok');
      else showFormStatus('Question sent.', 'ok');
    } else {
      if (r.status === 429) blockFor(r.retryAfter != null ? r.retryAfter : 10);
      if (r.status === 403) banned = true;
      showFormStatus(r.message, 'error');
    }
    updateSubmit();
  });

  // The event may not allow display names (from /api/events: `qa.names === false`).
  function applyEventSettings(ev) {
    if (!ev || typeof ev !== 'object') return;
    const qa = ev.qa && typeof ev.qa === 'object' ? ev.qa : {};
    const names = qa.names !== undefined ? qa.names : ev.qa_names;
    nameRow.hidden = names === false;
    if (qa.enabled === false) {
      root.hidden = true;
      document.body.classList.remove('with-qa');
    }
  }
  document.addEventListener('amphi:event', (e) => applyEventSettings(e.detail && e.detail.event));
  if (window.amphiPlayer && window.amphiPlayer.event) applyEventSettings(window.amphiPlayer.event);

  // ---------------------------------------------------------------- votes

  async function vote(q, button) {
    const id = String(q.id);
    if (voted.has(id)) return;
    voted.add(id);
    Q.storageSet('localStorage', VOTED_KEY, Array.from(voted).slice(-1000));
    button.disabled = true;
    const r = await identity.request('POST', Q.apiBase(event) + '/questions/' + encodeURIComponent(id) + '/vote');
    if (r.ok) {
      if (r.data && Number.isFinite(Number(r.data.votes))) {
        store.upsert({ id: q.id, votes: Number(r.data.votes) });
      }
    } else if (r.status === 0 || r.status >= 500) {
      // Not counted: allow another try.
      voted.delete(id);
      Q.storageSet('localStorage', VOTED_KEY, Array.from(voted));
      showFormStatus('Your vote did not reach the server. Try again.', 'error');
    } else if (r.status === 429 || r.status === 403) {
      showFormStatus(r.message, 'error');
    }
    render();
  }

  // ---------------------------------------------------------------- list

  function rowFor(q) {
    const id = String(q.id);
    let row = rows.get(id);
    if (!row) {
      const li = el('li', 'qa-item');
      li.dataset.id = id;
      const voteBtn = el('button', 'qa-vote');
      voteBtn.type = 'button';
      const arrow = el('span', 'qa-vote-arrow', '▲');
      arrow.setAttribute('aria-hidden', 'true');
      const votes = el('span', 'qa-votes', '0');
      voteBtn.append(arrow, votes);
      voteBtn.addEventListener('click', () => {
        const current = store.questions.get(id);
        if (current) vote(current, voteBtn);
      });
      const main = el('div', 'qa-main');
      const meta = el('div', 'qa-meta');
      const who = el('span', 'qa-who');
      const badges = el('span', 'qa-badges');
      meta.append(who, badges);
      const text = el('p', 'qa-text');
      const answer = el('p', 'qa-answer');
      answer.hidden = true;
      main.append(meta, text, answer);
      li.append(voteBtn, main);
      row = { li, voteBtn, votes, who, badges, text, answer };
      rows.set(id, row);
    }
    return row;
  }

  function updateRow(row, q) {
    const id = String(q.id);
    row.li.classList.toggle('is-pinned', q.pinned);
    row.li.classList.toggle('is-answered', q.status === 'answered');
    row.li.classList.toggle('is-mine', mine.has(id));
    row.li.dataset.status = q.status;
    if (row.text.textContent !== q.text) row.text.textContent = q.text;
    // The moderator's answer, as text.
    const answer = q.status === 'answered' && typeof q.answer === 'string' ? q.answer : '';
    if (row.answer.textContent !== answer) row.answer.textContent = answer;
    row.answer.hidden = !answer;
    const who = typeof q.name === 'string' && q.name ? q.name : 'Anonymous';
    row.who.textContent = mine.has(id) ? who + ' (you)' : who;
    const badges = [];
    if (q.pinned) badges.push(el('span', 'qa-badge qa-badge-pinned', 'Pinned'));
    if (q.status === 'answered') badges.push(el('span', 'qa-badge qa-badge-answered', 'Answered'));
    row.badges.replaceChildren(...badges);
    row.votes.textContent = String(q.votes);
    const hasVoted = voted.has(id);
    row.voteBtn.disabled = hasVoted;
    row.voteBtn.setAttribute('aria-pressed', hasVoted ? 'true' : 'false');
    row.voteBtn.setAttribute('aria-label', (hasVoted ? 'You voted. ' : 'Vote for this question. ') + q.votes + (q.votes === 1 ? ' vote' : ' votes'));
  }

  // Whether this viewer's playback has reached the question's program time.
  function reached(q, now) {
    const id = String(q.id);
    if (revealed.has(id) || mine.has(id)) return true;
    if (typeof q.program_time !== 'number' || now == null) return true;
    return now >= q.program_time;
  }

  const announced = new Set();
  let announcing = false; // false until the questions of the first load are shown
  function announce(visible) {
    const fresh = visible.filter((q) => !announced.has(String(q.id)));
    fresh.forEach((q) => announced.add(String(q.id)));
    if (!announcing) return;
    const others = fresh.filter((q) => !mine.has(String(q.id)));
    if (others.length === 1) announcer.textContent = 'New question: ' + others[0].text;
    else if (others.length > 1) announcer.textContent = others.length + ' new questions';
  }

  let lastHeld = 0;
  function render() {
    const now = programTime();
    const visible = [];
    let held = 0;
    for (const q of store.questions.values()) {
      if (q.status !== 'approved' && q.status !== 'answered') continue;
      if (!reached(q, now)) {
        held++;
        continue;
      }
      revealed.add(String(q.id));
      visible.push(q);
    }
    visible.sort(Q.byDisplayOrder);
    const items = visible.map((q) => {
      const row = rowFor(q);
      updateRow(row, q);
      return row.li;
    });
    Q.reconcile(list, items);
    announce(visible);
    for (const [id, row] of rows) if (!row.li.isConnected) rows.delete(id);
    countEl.textContent = String(visible.length);
    emptyNote.hidden = visible.length > 0 || held > 0;
    heldNote.hidden = held === 0;
    if (held !== lastHeld) {
      heldNote.textContent = held === 1 ? '1 more question will show when your video reaches it.' : held + ' more questions will show when your video reaches them.';
      lastHeld = held;
    }
    return held;
  }

  // Questions waiting for this viewer's playback: re-check as the video plays.
  setInterval(() => {
    if (lastHeld > 0) render();
  }, SYNC_TICK_MS);

  const store = new Q.QuestionStore({
    event,
    access: Q.viewerToken(),
    onChange: () => {
      render();
      announcing = true;
    },
    onStatus: (s) => {
      if (s.live !== undefined) root.classList.toggle('is-live', s.live === true);
      if (s.ok) {
        panelStatus.hidden = true;
      } else if (s.status === 404) {
        panelStatus.textContent = 'Q&A is not available for this event.';
        panelStatus.hidden = false;
        form.hidden = true;
      } else {
        panelStatus.textContent = s.message || 'Cannot load the questions. Retrying…';
        panelStatus.hidden = false;
        store.scheduleRefetch(5000);
      }
    },
  });

  updateCounter();
  updateSubmit();
  render();
  store.start();

  window.amphiQa = Object.freeze({
    identity,
    store,
    render,
  });
})();
