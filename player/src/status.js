// Amphi status page: lists the events from /api/events (title, live or not, link to the
// watch page) and refreshes every 3 s. Everything from the API is set with textContent.
(function () {
  'use strict';

  const REFRESH_MS = 3000;
  const list = document.getElementById('events');
  const status = document.getElementById('status-message');
  let lastRendered = null;

  function setStatus(text) {
    if (status.textContent !== text) status.textContent = text;
    status.hidden = text === '';
  }

  function watchHref(id) {
    return '/watch/' + encodeURIComponent(id);
  }

  function render(events) {
    const valid = events.filter((e) => e && typeof e.id === 'string' && e.id !== '');
    // Sort live events first, then by title, so the list does not jump around.
    valid.sort((a, b) => (b.live === true) - (a.live === true) || String(a.title || a.id).localeCompare(String(b.title || b.id)));
    const key = JSON.stringify(valid.map((e) => [e.id, e.title, e.live === true, e.protocol]));
    if (key === lastRendered) return; // keep focus and scroll position when nothing changed
    lastRendered = key;

    const items = valid.map((e) => {
      const li = document.createElement('li');
      li.className = 'event' + (e.live === true ? ' is-live' : '');
      li.dataset.id = e.id;

      const link = document.createElement('a');
      link.className = 'event-link';
      link.href = watchHref(e.id);
      link.textContent = typeof e.title === 'string' && e.title ? e.title : e.id;

      const badge = document.createElement('span');
      badge.className = 'badge ' + (e.live === true ? 'badge-live' : 'badge-off');
      badge.textContent = e.live === true ? 'Live' : 'Not live';

      const meta = document.createElement('span');
      meta.className = 'event-meta';
      meta.textContent = typeof e.protocol === 'string' && e.protocol ? e.id + ' · ' + e.protocol : e.id;

      li.append(badge, link, meta);
      return li;
    });
    list.replaceChildren(...items);
  }

  async function refresh() {
    try {
      const res = await fetch('/api/events', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const events = await res.json();
      if (!Array.isArray(events)) throw new Error('unexpected answer');
      render(events);
      setStatus(list.children.length ? '' : 'No events yet.');
    } catch (e) {
      setStatus('Cannot reach the server (' + e.message + '). Retrying…');
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
