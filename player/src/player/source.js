// Where the stream is: the event id from the page path, the optional viewer token, the
// multivariant playlist URL, and whether the stream is live there now.

import { eventFromPath } from './event-id.js';

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
  try {
    const master = await fetch(url, { cache: 'no-store' });
    if (!master.ok) return false;
    const text = await master.text();
    let mediaText = text;
    if (!HAS_MEDIA.test(text)) {
      const lines = text.split(/\r?\n/);
      const i = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF'));
      const uri = i >= 0 ? lines.slice(i + 1).find((l) => l.trim() && !l.startsWith('#')) : null;
      if (!uri) return false;
      const media = await fetch(new URL(uri.trim(), master.url).href, { cache: 'no-store' });
      if (!media.ok) return false;
      mediaText = await media.text();
    }
    return HAS_MEDIA.test(mediaText) && !/#EXT-X-ENDLIST/.test(mediaText);
  } catch (_) {
    return false;
  }
}
