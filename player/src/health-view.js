// An event's live checks, drawn the same way in the green room (/preview/{event}) and the
// console (/admin): each check green, orange or red with its value, what it means and the
// OBS setting to change. Text from the server only ever goes in with textContent.
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
    const li = document.createElement('li');
    li.dataset.level = c.level;
    li.dataset.check = c.id;
    const head = document.createElement('div');
    head.className = 'pv-check-head';
    const label = document.createElement('span');
    label.className = 'pv-check-label';
    label.textContent = c.label;
    const value = document.createElement('span');
    value.className = 'pv-check-value';
    value.textContent = c.value + ' · ' + c.level;
    head.append(label, value);
    li.append(head);
    if (c.message) {
      const msg = document.createElement('p');
      msg.className = 'pv-check-msg';
      msg.textContent = c.message;
      li.append(msg);
    }
    if (c.fix) {
      const fix = document.createElement('p');
      fix.className = 'pv-check-fix';
      fix.textContent = 'Fix: ' + c.fix;
      li.append(fix);
    }
    return li;
  }

  function renderChecks(listEl, checks) {
    listEl.replaceChildren(...(checks || []).map(checkItem));
  }

  return { levelBadge, levelText, renderChecks };
})();
