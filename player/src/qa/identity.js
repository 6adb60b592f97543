// The viewer on the Q&A API: a private event's viewer token from the page URL, and the
// server-signed viewer id (ViewerIdentity).

import { apiBase, request } from './api.js';
import { storageGet, storageSet } from './storage.js';

// The event's viewer token, for private events: `?token=` on the page URL (the same
// value the player puts in media paths). Sent to the Q&A API only.
export function viewerToken() {
  const t = new URLSearchParams(location.search).get('token');
  return t && /^[A-Za-z0-9._-]{1,512}$/.test(t) ? t : null;
}

// This viewer's identity on the Q&A API: an id the server mints and signs
// (POST /api/qa/{event}/viewer, with the viewer token of a private event), kept in
// localStorage per event, renewed well before it expires (same id, new expiry), and
// sent as `Authorization: Bearer` on the Q&A API only, never on media URLs.
export class ViewerIdentity {
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
