// Amphi lecturer view (/present/{event}): the approved questions in large type, pinned
// first, then by votes, live over SSE. Answered and hidden ones leave the screen. Needs
// qa-core.js; everything from the API is set with textContent.
(function () {
  'use strict';

  const Q = window.AmphiQa;
  const el = Q.el;
  const list = document.getElementById('present-list');
  const empty = document.getElementById('present-empty');
  const status = document.getElementById('present-status');
  const title = document.getElementById('title');
  const MAX_SHOWN = 12;
  const event = Q.eventFromPath(location.pathname);
  const rows = new Map();

  if (!event) {
    status.textContent = 'There is no such event. Check the link.';
    status.hidden = false;
    return;
  }
  // Read (and clear from the address bar) a token if one was given; not needed here.
  Q.moderatorToken(event);
  title.textContent = 'Questions · ' + event;

  function render() {
    const shown = store.list((q) => q.status === 'approved').sort(Q.byDisplayOrder).slice(0, MAX_SHOWN);
    const items = shown.map((q) => {
      const id = String(q.id);
      let row = rows.get(id);
      if (!row) {
        const li = el('li', 'present-item');
        li.dataset.id = id;
        const votes = el('span', 'present-votes');
        const text = el('p', 'present-text');
        const who = el('span', 'present-who');
        li.append(votes, text, who);
        row = { li, votes, text, who };
        rows.set(id, row);
      }
      row.li.classList.toggle('is-pinned', q.pinned);
      row.votes.textContent = '▲ ' + q.votes;
      row.text.textContent = q.text;
      row.who.textContent = q.name ? q.name : '';
      return row.li;
    });
    Q.reconcile(list, items);
    for (const [id, row] of rows) if (!row.li.isConnected) rows.delete(id);
    empty.hidden = items.length > 0;
  }

  const store = new Q.QuestionStore({
    event,
    onChange: render,
    onStatus: (s) => {
      if (s.ok) status.hidden = true;
      else if (s.status !== undefined) {
        status.textContent = s.message || 'Cannot reach the server. Retrying…';
        status.hidden = false;
        store.scheduleRefetch(5000);
      }
    },
  });
  store.start();
})();
