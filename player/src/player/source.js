// Where the stream is: the event id from the page path, the optional viewer token, the
// multivariant playlist URL, and whether the stream is live there now.

import { eventFromPath } from './event-id.js';
import { fetchFirstMedia } from './playlists.js';

// The event of /watch/{event} or /embed/{event}, or null.
export function parseEventId(path) {
  return eventFromPath(path, ['watch', 'embed']);
}

// Private events: `?token=` (from the embed code) becomes one path segment, so every
// playlist, part and segment URL carries it and stays cacheable for the whole cohort.
export function viewerToken(search) {
  const t = new URLSearchParams(search).get('token');
  return t && /^[A-Za-z0-9._-]{1,128}$/.test(t) ? t : null;
}

// The part of a viewer token that media URLs carry: `expiry.mac`. A named token
// (`expiry.mac.name.namemac`, for named Q&A) keeps its name out of media URLs, so the
// whole cohort shares one cache entry per object and no name reaches a CDN's logs.
export function mediaToken(token) {
  if (!token) return null;
  const fields = token.split('.');
  return fields.length >= 2 ? fields[0] + '.' + fields[1] : token;
}

export function sourceUrl(eventId, token, base) {
  if (!eventId) return null;
  const t = mediaToken(token);
  return new URL('/live/' + encodeURIComponent(eventId) + (t ? '/t/' + t : '') + '/master.m3u8', base).href;
}

const HAS_MEDIA = /#EXTINF|#EXT-X-PART:/;

// Is the stream there and live? The multivariant playlist must exist and its first
// media playlist must have media in it and no EXT-X-ENDLIST. Only the HLS URLs are
// used, so this works behind any cache that serves /live/.
export async function probeLive(url) {
  const hasMedia = (text) => HAS_MEDIA.test(text);
  const text = await fetchFirstMedia(url, { cache: 'no-store', isMedia: hasMedia });
  return text != null && hasMedia(text) && !/#EXT-X-ENDLIST/.test(text);
}
