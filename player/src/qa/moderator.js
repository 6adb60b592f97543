// What the moderator pages (moderation, captions, the green room) share: the moderator
// token from the URL fragment, kept for the tab; its form; and the page's status line.

import { storageGet, storageSet } from './storage.js';

// Moderator token: taken from the URL fragment (never sent to the server in a URL the
// server logs or a cache keys on), then kept in sessionStorage and removed from the
// address bar.
export function moderatorToken(event) {
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
export function moderatorTokenForm({ form, input, event, setStatus, onToken, prompt }) {
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
export function statusLine(node) {
  return function setStatus(text, isError) {
    node.textContent = text;
    node.hidden = text === '';
    node.classList.toggle('error', !!isError);
    node.setAttribute('role', isError ? 'alert' : 'status');
  };
}
