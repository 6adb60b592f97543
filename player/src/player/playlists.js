// Reading an event's playlists over HTTP: the multivariant playlist's first variant and
// the text of that media playlist. One reading for the three places that look behind a
// multivariant playlist: whether the live is on (source.js), whether it has ended
// (replay.js) and the DVR playlist (dvr.js). Unit-tested in player/test/playlists.test.mjs.

// The first variant's URI of a multivariant playlist, as written, or null.
export function firstVariant(text) {
  const lines = String(text || '').split(/\r?\n/);
  const i = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF'));
  if (i < 0) return null;
  const uri = lines.slice(i + 1).find((l) => l.trim() && !l.startsWith('#'));
  return uri ? uri.trim() : null;
}

// The first media playlist's absolute URL in a multivariant playlist read from
// `masterUrl`, or null.
export function firstMediaUrl(masterText, masterUrl) {
  const uri = firstVariant(masterText);
  return uri ? new URL(uri, masterUrl).href : null;
}

// The text of the first media playlist behind the multivariant playlist at `url`, fetched
// with `cache` (a fetch cache mode), or null when either is missing or unreachable.
// `isMedia(text)`, when given, says that `url` served a media playlist itself, which is
// then the answer.
export async function fetchFirstMedia(url, { cache, isMedia } = {}) {
  try {
    const master = await fetch(url, { cache });
    if (!master.ok) return null;
    const text = await master.text();
    if (isMedia && isMedia(text)) return text;
    const uri = firstMediaUrl(text, master.url);
    if (!uri) return null;
    const media = await fetch(uri, { cache });
    return media.ok ? await media.text() : null;
  } catch (_) {
    return null;
  }
}
