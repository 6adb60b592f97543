// The event id of a page's path (`/watch/{event}`, `/publish/{event}`, …): the one rule
// every page script uses. Event ids are as the server accepts them: 1 to 64 of
// `a-z 0-9 - _` (anything else would be refused there anyway).

export const EVENT_ID = /^[a-z0-9_-]{1,64}$/;

// The event of `/{page}/{event}` (one trailing slash allowed) for one of `pages`, or null
// when the path is another page's, is not percent-decodable or is not an event id.
export function eventFromPath(path, pages) {
  const m = /^\/([a-z]+)\/([^/]+)\/?$/.exec(path || '');
  if (!m || !pages.includes(m[1])) return null;
  let id;
  try {
    id = decodeURIComponent(m[2]);
  } catch (_) {
    return null;
  }
  return EVENT_ID.test(id) ? id : null;
}
