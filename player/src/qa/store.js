// The questions of one event, live: the question statuses, the store fed by the REST
// list and the SSE stream (QuestionStore), and the viewers' display order.
// byDisplayOrder and isQuestion are unit-tested in player/test/qa-store.test.mjs.

import { apiBase, request } from './api.js';

export const STATUSES = ['pending', 'approved', 'answered', 'hidden'];

// Whether a value from the API has what a question needs: an id and a text.
export function isQuestion(q) {
  return q && typeof q === 'object' && (typeof q.id === 'number' || typeof q.id === 'string') && typeof q.text === 'string';
}

// Questions of one event keyed by id, kept up to date from the list endpoint and the SSE
// stream (amphi-qa's QaEvent): `{type:"snapshot", seq, questions}` replaces the list;
// `question_created` / `question_updated` carry the question's full state (an upsert by
// id); `votes_changed {id, votes}` and `pinned_changed {id, pinned}` patch one question;
// `question_removed {id}` drops it (viewers: it was hidden). The envelope is read
// tolerantly: any message with a `question` object is an upsert; a message we do not
// understand makes us re-read the list, so no update is lost to an unexpected shape.
export class QuestionStore {
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
export function byDisplayOrder(a, b) {
  return (b.pinned === true) - (a.pinned === true) || b.votes - a.votes || compareIds(a.id, b.id);
}

// Ids in the order they were given: numerically when both are numbers.
export function compareIds(a, b) {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return String(a).localeCompare(String(b));
}
