// Reading behind a multivariant playlist: its first variant, and the text of that media
// playlist fetched over HTTP (a stubbed fetch here).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fetchFirstMedia, firstMediaUrl, firstVariant } from '../src/player/playlists.js';

const MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n\n720p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n360p/index.m3u8\n';
const MEDIA = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.m4s\n';

test('the first variant of a multivariant playlist', () => {
  assert.equal(firstVariant(MASTER), '720p/index.m3u8');
  assert.equal(firstVariant('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\r\n  a.m3u8  \r\n'), 'a.m3u8');
  assert.equal(firstVariant('#EXTM3U\n'), null);
  assert.equal(firstVariant('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n'), null);
  assert.equal(firstVariant(null), null);
});

test('its absolute URL, relative to where the multivariant playlist was read', () => {
  assert.equal(firstMediaUrl(MASTER, 'https://a.example/live/c/master.m3u8'), 'https://a.example/live/c/720p/index.m3u8');
  assert.equal(firstMediaUrl(MASTER, 'https://a.example/live/c/t/1.ab/dvr.m3u8'), 'https://a.example/live/c/t/1.ab/720p/index.m3u8');
  assert.equal(firstMediaUrl('#EXTM3U\n', 'https://a.example/'), null);
});

// Runs `fn` with a fetch that serves `files` (URL → text; absent: 404) and records the
// requests as [url, cache].
async function withFetch(files, fn) {
  const requests = [];
  const saved = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    requests.push([url, init && init.cache]);
    if (files[url] instanceof Error) throw files[url];
    const body = files[url];
    return { ok: body != null, url, text: async () => body };
  };
  try {
    return { value: await fn(), requests };
  } finally {
    globalThis.fetch = saved;
  }
}

test('the media playlist behind a multivariant playlist, with the cache mode asked for', async () => {
  const master = 'https://a.example/live/c/master.m3u8';
  const media = 'https://a.example/live/c/720p/index.m3u8';
  const { value, requests } = await withFetch({ [master]: MASTER, [media]: MEDIA }, () =>
    fetchFirstMedia(master, { cache: 'no-store' })
  );
  assert.equal(value, MEDIA);
  assert.deepEqual(requests, [
    [master, 'no-store'],
    [media, 'no-store'],
  ]);
});

test('a URL that serves a media playlist itself, when the caller recognises one', async () => {
  const url = 'https://a.example/live/c/master.m3u8';
  const isMedia = (t) => t.includes('#EXTINF');
  const { value, requests } = await withFetch({ [url]: MEDIA }, () => fetchFirstMedia(url, { cache: 'no-cache', isMedia }));
  assert.equal(value, MEDIA);
  assert.equal(requests.length, 1);
  // Without isMedia, a media playlist has no variant to follow.
  assert.equal((await withFetch({ [url]: MEDIA }, () => fetchFirstMedia(url))).value, null);
});

test('missing, empty or unreachable playlists read as none', async () => {
  const master = 'https://a.example/m.m3u8';
  const media = 'https://a.example/720p/index.m3u8';
  assert.equal((await withFetch({}, () => fetchFirstMedia(master))).value, null);
  assert.equal((await withFetch({ [master]: '#EXTM3U\n' }, () => fetchFirstMedia(master))).value, null);
  assert.equal((await withFetch({ [master]: MASTER }, () => fetchFirstMedia(master))).value, null);
  assert.equal((await withFetch({ [master]: MASTER, [media]: new Error('offline') }, () => fetchFirstMedia(master))).value, null);
});
