// Amphi Q&A: what the viewer panel, the moderator pages (moderation, captions) and the
// lecturer view share. Defines
// window.AmphiQa: the event id from the page path, the server-signed viewer id, JSON requests to
// /api/qa/{event}/..., a live store of questions fed by the REST list and the SSE stream,
// and small DOM helpers. A plain browser script; nothing from the API is ever parsed as
// HTML (textContent only).
import { el } from './player/dom.js';
import { eventFromPath } from './player/event-id.js';

(function () {
  'use strict';

  const STATUSES = ['pending', 'approved', 'answered', 'hidden'];

  // The event of the Q&A pages' path (the page's own without an argument).
  function pageEvent(path) {
    return eventFromPath(path || location.pathname, ['watch', 'embed', 'moderate', 'present', 'caption']);
  }

  function apiBase(event) {
    return '/api/qa/' + encodeURIComponent(event);
  }

  // The event's viewer token, for private events: `?token=` on the page URL (the same
  // value the player puts in media paths). Sent to the Q&A API only.
  function viewerToken() {
    const t = new URLSearchParams(location.search).get('token');
    return t && /^[A-Za-z0-9._-]{1,512}$/.test(t) ? t : null;
  }

  // This viewer's identity on the Q&A API: an id the server mints and signs
  // (POST /api/qa/{event}/viewer, with the viewer token of a private event), kept in
  // localStorage per event, renewed well before it expires (same id, new expiry), and
  // sent as `Authorization: Bearer` on the Q&A API only, never on media URLs.
  class ViewerIdentity {
    constructor(event, token) {
      this.event = event;
      this.token = token || null;
      this.key = 'amphi.viewer.' + event;
      const saved = storageGet('localStorage', this.key, null);
      this.current = saved && typeof saved.viewer === 'string' ? saved : null;
      this.pending = null;
      this.timer = null;
      if (this.current) this.schedule();
    }

    get id() {
      return this.current ? this.current.id : null;
    }

    get name() {
      return this.current ? this.current.name || null : null;
    }

    // Milliseconds the current id has left (0 when none).
    remaining() {
      return this.current ? Math.max(0, Number(this.current.expires_at) * 1000 - Date.now()) : 0;
    }

    // The signed id, minting one first when needed. Resolves to { viewer } or
    // { error } (the failed mint response, e.g. 429 with retryAfter, 401 token_required).
    async get() {
      if (this.remaining() > 60000) return { viewer: this.current.viewer };
      const r = await this.fetch();
      return r.ok ? { viewer: this.current.viewer } : { error: r };
    }

    // One mint or renewal at a time.
    fetch() {
      if (!this.pending) {
        const body = {};
        if (this.token) body.token = this.token;
        if (this.remaining() > 0) body.viewer = this.current.viewer;
        this.pending = request('POST', apiBase(this.event) + '/viewer', { body }).then((r) => {
          this.pending = null;
          if (r.ok && r.data && typeof r.data.viewer === 'string') {
            this.current = { viewer: r.data.viewer, id: r.data.id, expires_at: r.data.expires_at, name: r.data.name || null };
            storageSet('localStorage', this.key, this.current);
            this.schedule();
          }
          return r;
        });
      }
      return this.pending;
    }

    // Renews at half the remaining lifetime (at least a minute from now).
    schedule() {
      clearTimeout(this.timer);
      const left = this.remaining();
      if (left <= 0) return;
      const wait = Math.min(Math.max(left / 2, 60000), 2147483647);
      this.timer = setTimeout(() => {
        this.fetch().then((r) => {
          if (!r.ok && r.status !== 403 && this.remaining() > 0) this.schedule();
        });
      }, wait);
    }

    forget() {
      clearTimeout(this.timer);
      this.current = null;
      try {
        localStorage.removeItem(this.key);
      } catch (_) {
        /* blocked storage */
      }
    }

    // A request as this viewer. An id the server no longer accepts (expired while the
    // laptop slept, key rotated) is replaced once and the request sent again.
    async request(method, url, opts = {}) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const id = await this.get();
        if (id.error) return id.error;
        const r = await request(method, url, Object.assign({}, opts, { token: id.viewer }));
        if (r.status !== 401 || !r.data || r.data.error !== 'invalid_viewer' || attempt > 0) return r;
        this.forget();
      }
      return { ok: false, status: 0, data: null, retryAfter: null, message: 'Cannot reach the server.' };
    }
  }

  function storageGet(store, key, fallback) {
    try {
      const v = window[store].getItem(key);
      return v === null ? fallback : JSON.parse(v);
    } catch (_) {
      return fallback;
    }
  }

  function storageSet(store, key, value) {
    try {
      window[store].setItem(key, JSON.stringify(value));
    } catch (_) {
      /* private mode or blocked storage: fine for this session */
    }
  }

  // A request to the Q&A API. `token` is the bearer value: a moderator token, a
  // signed viewer id, or a private event's viewer token. Resolves to
  // { ok, status, data, retryAfter, message }; never throws (network failures come
  // back as status 0).
  async function request(method, url, { body, token, timeoutMs = 10000 } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body !== undefined ? JSON.stringify(body) : undefined,
        cache: 'no-store',
        credentials: 'same-origin',
        signal: AbortSignal.timeout ? AbortSignal.timeout(timeoutMs) : undefined,
      });
    } catch (e) {
      return { ok: false, status: 0, data: null, retryAfter: null, message: 'Cannot reach the server.' };
    }
    let data = null;
    try {
      const text = await res.text();
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    const ra = Number(res.headers.get('Retry-After'));
    const retryAfter = Number.isFinite(ra) && ra >= 0 ? ra : null;
    let message = '';
    if (!res.ok) message = errorMessage(res.status, data, retryAfter);
    return { ok: res.ok, status: res.status, data, retryAfter, message };
  }

  function errorMessage(status, data, retryAfter) {
    const detail = data && typeof data.message === 'string' ? data.message : data && typeof data.error === 'string' ? data.error : '';
    switch (status) {
      case 429:
        return 'You are asking too fast. Try again in ' + (retryAfter != null ? retryAfter : 'a few') + ' s.';
      case 403:
        return 'A moderator has blocked you from asking questions in this lecture.';
      case 401:
        if (data && data.error === 'token_required') return 'This lecture is private: open it with the link your course gave you.';
        if (data && data.error === 'invalid_viewer') return 'Your Q&A session has expired. Reload the page.';
        return 'The moderator link is missing its token or the token is wrong.';
      case 404:
        return 'Q&A is not available for this event.';
      case 400:
        return 'The question was not accepted' + (detail ? ': ' + detail : '.');
      default:
        return 'Something went wrong (HTTP ' + status + ')' + (detail ? ': ' + detail : '.');
    }
  }

  function isQuestion(q) {
    return q && typeof q === 'object' && (typeof q.id === 'number' || typeof q.id === 'string') && typeof q.text === 'string';
  }

  // Questions of one event keyed by id, kept up to date from the list endpoint and the SSE
  // stream (amphi-qa's QaEvent): `{type:"snapshot", seq, questions}` replaces the list;
  // `question_created` / `question_updated` carry the question's full state (an upsert by
  // id); `votes_changed {id, votes}` and `pinned_changed {id, pinned}` patch one question;
  // `question_removed {id}` drops it (viewers: it was hidden). The envelope is read
  // tolerantly: any message with a `question` object is an upsert; a message we do not
  // understand makes us re-read the list, so no update is lost to an unexpected shape.
  class QuestionStore {
    // `token`: the moderator token (moderator view); `access`: a private event's viewer
    // token (viewer view), needed to read its questions.
    constructor({ event, moderator = false, token = null, access = null, onChange, onStatus }) {
      this.event = event;
      this.moderator = moderator;
      this.token = token;
      this.access = access;
      this.onChange = onChange || (() => {});
      this.onStatus = onStatus || (() => {});
      this.questions = new Map();
      this.source = null;
      this.refetchTimer = null;
      this.closed = false;
      this.connected = false;
      this.everConnected = false;
      this.fetchSeq = 0;
      this.touched = new Map(); // id -> performance.now() of the last stream update
      this.removedAt = new Map(); // id -> when the stream removed it
    }

    listUrl() {
      return apiBase(this.event) + '/questions' + (this.moderator ? '?view=moderator' : '');
    }

    streamUrl() {
      let url = apiBase(this.event) + '/stream';
      if (this.moderator) url += '?view=moderator&token=' + encodeURIComponent(this.token || '');
      else if (this.access) url += '?access=' + encodeURIComponent(this.access);
      return url;
    }

    async start() {
      this.connect();
      return this.refetch();
    }

    async refetch() {
      const seq = ++this.fetchSeq;
      const issuedAt = performance.now();
      const r = await request('GET', this.listUrl(), { token: this.moderator ? this.token : this.access });
      if (seq !== this.fetchSeq || this.closed) return r;
      // The list endpoint answers `{type: "questions", seq, questions}`; a bare array is
      // read too.
      const list = r.data && Array.isArray(r.data.questions) ? r.data.questions : r.data;
      if (r.ok && Array.isArray(list)) {
        const next = new Map();
        for (const q of list) {
          if (!isQuestion(q)) continue;
          const id = String(q.id);
          if ((this.removedAt.get(id) || -1) > issuedAt) continue; // removed since we asked
          next.set(id, this.merge(null, q));
        }
        // The stream is newer than a list requested before its update arrived.
        for (const [id, q] of this.questions) {
          if ((this.touched.get(id) || -1) > issuedAt) next.set(id, q);
        }
        this.questions = next;
        this.onChange();
        this.onStatus({ ok: true });
      } else {
        this.onStatus({ ok: false, status: r.status, message: r.message || (r.ok ? 'The server sent an unexpected answer. Retrying…' : '') });
      }
      return r;
    }

    replaceAll(questions) {
      const next = new Map();
      for (const q of questions) if (isQuestion(q)) next.set(String(q.id), this.merge(null, q));
      this.questions = next;
      const now = performance.now();
      for (const id of next.keys()) this.touched.set(id, now);
      this.fetchSeq++; // a list request in flight is older than this snapshot
    }

    scheduleRefetch(ms = 300) {
      if (this.refetchTimer || this.closed) return;
      this.refetchTimer = setTimeout(() => {
        this.refetchTimer = null;
        this.refetch();
      }, ms);
    }

    merge(prev, q) {
      const out = Object.assign({}, prev || {}, q);
      out.id = q.id != null ? q.id : prev && prev.id;
      out._rev = (prev && prev._rev ? prev._rev : 0) + 1;
      if (STATUSES.indexOf(out.status) < 0) out.status = 'approved';
      out.votes = Number(out.votes) || 0;
      out.pinned = out.pinned === true;
      return out;
    }

    upsert(q) {
      const id = String(q.id);
      const prev = this.questions.get(id);
      // Only one question is pinned per event: a newly pinned one unpins the others.
      if (q.pinned === true && !(prev && prev.pinned)) {
        for (const [otherId, other] of this.questions) {
          if (otherId !== id && other.pinned) this.questions.set(otherId, Object.assign({}, other, { pinned: false }));
        }
      }
      this.questions.set(id, this.merge(prev, q));
      this.touched.set(id, performance.now());
    }

    remove(id) {
      const key = String(id);
      this.removedAt.set(key, performance.now());
      this.touched.delete(key);
      return this.questions.delete(key);
    }

    handle(raw) {
      let msg;
      try {
        msg = JSON.parse(raw);
      } catch (_) {
        return;
      }
      if (!msg || typeof msg !== 'object') return;
      let changed = false;
      const kind = String(msg.type || msg.kind || '').toLowerCase();
      const id = msg.id != null ? msg.id : msg.question_id != null ? msg.question_id : null;
      const prev = id != null ? this.questions.get(String(id)) : null;
      if (kind === 'snapshot' && Array.isArray(msg.questions)) {
        this.replaceAll(msg.questions);
        changed = true;
        this.onStatus({ ok: true, live: true });
      } else if (isQuestion(msg.question)) {
        this.upsert(msg.question);
        changed = true;
      } else if (/remov|delet/.test(kind) && id != null) {
        changed = this.remove(id);
      } else if (Array.isArray(msg.questions)) {
        for (const q of msg.questions) if (isQuestion(q)) this.upsert(q);
        changed = true;
      } else if (isQuestion(msg)) {
        this.upsert(msg);
        changed = true;
      } else if (prev && ('votes' in msg || 'status' in msg || 'pinned' in msg)) {
        const patch = { id: prev.id };
        for (const k of ['votes', 'status', 'pinned']) if (k in msg) patch[k] = msg[k];
        this.upsert(patch);
        changed = true;
      } else if (/ping|heartbeat|hello|keepalive|connected/.test(kind)) {
        return;
      } else {
        // A patch for a question we do not have, or a shape we do not know.
        this.scheduleRefetch();
        return;
      }
      // Pins and bans may touch other questions than the one in the message.
      if (/ban/.test(kind)) this.scheduleRefetch();
      if (changed) this.onChange();
    }

    connect() {
      if (this.closed || typeof EventSource !== 'function') return;
      const es = new EventSource(this.streamUrl());
      this.source = es;
      const onMessage = (e) => this.handle(e.data);
      es.onmessage = onMessage;
      // Named SSE events, should the server use them.
      for (const name of ['question', 'questions', 'upsert', 'update', 'created', 'updated', 'vote', 'votes', 'moderation', 'qa']) {
        es.addEventListener(name, onMessage);
      }
      es.onopen = () => {
        const reconnect = this.connected === false && this.everConnected;
        this.connected = true;
        this.everConnected = true;
        this.onStatus({ ok: true, live: true });
        // Whatever happened while we were disconnected: read the list again.
        if (reconnect) this.refetch();
      };
      es.onerror = () => {
        this.connected = false;
        this.onStatus({ ok: true, live: false });
        if (es.readyState === EventSource.CLOSED) {
          // The browser gave up (HTTP error): try again later ourselves.
          es.close();
          if (this.source === es) {
            this.source = null;
            setTimeout(() => {
              if (!this.closed && !this.source) {
                this.connect();
                this.refetch();
              }
            }, 5000);
          }
        }
      };
    }

    close() {
      this.closed = true;
      if (this.source) this.source.close();
      this.source = null;
      clearTimeout(this.refetchTimer);
    }

    list(filter) {
      const out = [];
      for (const q of this.questions.values()) if (!filter || filter(q)) out.push(q);
      return out;
    }
  }

  // Viewer order: pinned first, then most votes, then oldest first.
  function byDisplayOrder(a, b) {
    return (b.pinned === true) - (a.pinned === true) || b.votes - a.votes || compareIds(a.id, b.id);
  }

  function compareIds(a, b) {
    const na = Number(a);
    const nb = Number(b);
    if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
    return String(a).localeCompare(String(b));
  }

  // Puts `items` (DOM nodes) into `parent` in this order, moving only the nodes that are out
  // of place (keeps focus and avoids flicker), and removes the rest.
  function reconcile(parent, items) {
    const wanted = new Set(items);
    for (const child of Array.from(parent.children)) if (!wanted.has(child)) child.remove();
    items.forEach((node, i) => {
      if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
    });
  }

  function formatClock(ms) {
    if (!Number.isFinite(ms)) return '';
    try {
      return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    } catch (_) {
      return new Date(ms).toISOString().slice(11, 19);
    }
  }

  // Moderator token: taken from the URL fragment (never sent to the server in a URL the
  // server logs or a cache keys on), then kept in sessionStorage and removed from the
  // address bar.
  function moderatorToken(event) {
    const key = 'amphi.moderator.' + event;
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    let token = params.get('token');
    if (token) {
      storageSet('sessionStorage', key, token);
      params.delete('token');
      const rest = params.toString();
      try {
        history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
      } catch (_) {
        /* keep the fragment */
      }
    } else {
      token = storageGet('sessionStorage', key, null);
    }
    return typeof token === 'string' && token ? token : null;
  }

  // The moderator-token form of a moderator page: a token typed in is kept for this tab
  // (as moderatorToken keeps one from the fragment), the form hides and onToken(token)
  // runs. ask(why) shows the form again with why (or `prompt`) in setStatus.
  function moderatorTokenForm({ form, input, event, setStatus, onToken, prompt }) {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      input.value = '';
      storageSet('sessionStorage', 'amphi.moderator.' + event, t);
      form.hidden = true;
      onToken(t);
    });
    return {
      ask(why) {
        form.hidden = false;
        setStatus(why || prompt || 'Enter the moderator token for this event.', !!why);
        input.focus();
      },
    };
  }

  // A page's status line: `setStatus(text, isError)` shows text (hidden when empty), as an
  // alert when it is an error.
  function statusLine(el) {
    return function setStatus(text, isError) {
      el.textContent = text;
      el.hidden = text === '';
      el.classList.toggle('error', !!isError);
      el.setAttribute('role', isError ? 'alert' : 'status');
    };
  }

  window.AmphiQa = Object.freeze({
    eventFromPath: pageEvent,
    apiBase,
    viewerToken,
    ViewerIdentity,
    storageGet,
    storageSet,
    request,
    QuestionStore,
    byDisplayOrder,
    el,
    reconcile,
    formatClock,
    moderatorToken,
    moderatorTokenForm,
    statusLine,
    STATUSES,
    MAX_TEXT: 500,
    MAX_NAME: 60,
  });
})();
