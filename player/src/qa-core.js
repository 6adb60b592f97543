// Amphi Q&A: what the viewer panel, the moderator pages (moderation, captions, the green
// room) and the lecturer view share, as window.AmphiQa: the event id from the page path,
// the Q&A API (qa/api.js), the server-signed viewer id (qa/identity.js), values kept in
// web storage (qa/storage.js), the live store of questions fed by the REST list and the
// SSE stream (qa/store.js), the moderator token and status line (qa/moderator.js), and
// small DOM helpers. A plain browser script, bundled with those modules by build.mjs;
// nothing from the API is ever parsed as HTML (textContent only).
import { el } from './player/dom.js';
import { eventFromPath } from './player/event-id.js';
import { apiBase, request } from './qa/api.js';
import { viewerToken, ViewerIdentity } from './qa/identity.js';
import { moderatorToken, moderatorTokenForm, statusLine } from './qa/moderator.js';
import { storageGet, storageSet } from './qa/storage.js';
import { byDisplayOrder, QuestionStore, STATUSES } from './qa/store.js';

(function () {
  'use strict';

  // The event of the Q&A pages' path (the page's own without an argument).
  function pageEvent(path) {
    return eventFromPath(path || location.pathname, ['watch', 'embed', 'moderate', 'present', 'caption']);
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
