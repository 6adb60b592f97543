// An event's live checks, drawn the same way in the green room (/preview/{event}) and the
// console (/admin): each check green, orange or red with its value, what it means and the
// OBS setting to change. Text from the server only ever goes in with textContent (el).
import { el } from './player/dom.js';

window.AmphiHealth = (function () {
  'use strict';

  // What the overall level asks of the lecturer.
  function levelText(level) {
    if (level === 'green') return 'all good';
    if (level === 'orange') return 'check';
    if (level === 'red') return 'fix before going live';
    return '';
  }

  function levelBadge(el, level) {
    el.dataset.level = level || '';
    el.textContent = levelText(level);
  }

  function checkItem(c) {
    const li = el('li');
    li.dataset.level = c.level;
    li.dataset.check = c.id;
    const head = el('div', 'pv-check-head');
    head.append(el('span', 'pv-check-label', c.label), el('span', 'pv-check-value', c.value + ' · ' + c.level));
    li.append(head);
    if (c.message) li.append(el('p', 'pv-check-msg', c.message));
    if (c.fix) li.append(el('p', 'pv-check-fix', 'Fix: ' + c.fix));
    return li;
  }

  function renderChecks(listEl, checks) {
    listEl.replaceChildren(...(checks || []).map(checkItem));
  }

  return { levelBadge, levelText, renderChecks };
})();
