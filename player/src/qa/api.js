// The Q&A API over HTTP: the event's API base, one JSON request (bearer value, body,
// timeout) that never throws, and the message a page shows for an error answer.
// Unit-tested in player/test/qa-api.test.mjs.

export function apiBase(event) {
  return '/api/qa/' + encodeURIComponent(event);
}

// A request to the Q&A API. `token` is the bearer value: a moderator token, a
// signed viewer id, or a private event's viewer token. Resolves to
// { ok, status, data, retryAfter, message }; never throws (network failures come
// back as status 0).
export async function request(method, url, { body, token, timeoutMs = 10000 } = {}) {
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
  // Absent (null) is unknown, not 0: the caller then waits its own default.
  const header = res.headers.get('Retry-After');
  const ra = header == null || header.trim() === '' ? NaN : Number(header);
  const retryAfter = Number.isFinite(ra) && ra >= 0 ? ra : null;
  let message = '';
  if (!res.ok) message = errorMessage(res.status, data, retryAfter);
  return { ok: res.ok, status: res.status, data, retryAfter, message };
}

// What a page shows for an error answer: its status, its JSON body and its Retry-After (s).
export function errorMessage(status, data, retryAfter) {
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
