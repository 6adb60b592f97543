import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_AGE_MS, MAX_ENTRIES, PrefetchCache, handoverTimes, partHints } from '../src/player/prefetch.js';

const PLAYLIST = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-PART-INF:PART-TARGET=0.334
#EXT-X-MEDIA-SEQUENCE:10
#EXTINF:2.0,
seg10.m4s
#EXT-X-PART:DURATION=0.334,URI="part11.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part11.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=MAP,URI="init-2.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="big.m4s",BYTERANGE-START=100
`;

test('whole-part hints resolve against the playlist URL; maps and byte ranges are left alone', () => {
  const base = 'https://amphi.example/live/ev/t/123.abc/360p/index.m3u8?_HLS_msn=11&_HLS_part=0';
  assert.deepEqual(partHints(PLAYLIST, base), ['https://amphi.example/live/ev/t/123.abc/360p/part11.1.m4s']);
  assert.deepEqual(partHints('#EXTM3U\n', base), []);
  assert.deepEqual(partHints(undefined, base), []);
  assert.deepEqual(partHints('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="http://[::1"\n', base), []);
});

function fakeFetch() {
  const calls = [];
  const fetch = (url, signal) => {
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    calls.push({ url, signal, resolve });
    return promise;
  };
  return { calls, fetch };
}

test('a hinted part is fetched once and handed over once', async () => {
  let now = 0;
  const f = fakeFetch();
  const cache = new PrefetchCache(f.fetch, () => now);
  cache.prefetch('u1');
  cache.prefetch('u1');
  assert.equal(f.calls.length, 1);
  const pending = cache.take('u1');
  assert.ok(pending);
  assert.equal(cache.take('u1'), null);
  const bytes = new ArrayBuffer(3);
  f.calls[0].resolve({ data: bytes, firstAt: 1, endAt: 2 });
  assert.equal((await pending).data, bytes);
});

test('the cache is bounded in entries and age; evicted prefetches are aborted', () => {
  let now = 0;
  const f = fakeFetch();
  const cache = new PrefetchCache(f.fetch, () => now);
  for (let i = 0; i <= MAX_ENTRIES; i++) cache.prefetch('u' + i);
  assert.equal(cache.entries.size, MAX_ENTRIES);
  assert.ok(f.calls[0].signal.aborted, 'the oldest was aborted');
  assert.equal(cache.take('u0'), null);
  now += MAX_AGE_MS + 1;
  assert.equal(cache.take('u1'), null, 'expired');
  assert.ok(f.calls.slice(1).every((c) => c.signal.aborted));
  assert.equal(cache.entries.size, 0);
});

test('a failed prefetch is not an unhandled rejection and is taken as failed', async () => {
  const cache = new PrefetchCache(() => Promise.reject(new Error('HTTP 404')), () => 0);
  cache.prefetch('gone');
  await assert.rejects(cache.take('gone'));
});

test('time held at the origin is not counted as transfer time', () => {
  // Asked at 100, first byte at 400 (the origin held the request), last byte at 410.
  assert.deepEqual(handoverTimes(100, 400, 410, 411), { start: 400, first: 400, end: 411 });
  // Bytes already there when asked: the transfer lasts as long as it did.
  assert.deepEqual(handoverTimes(500, 400, 420, 501), { start: 500, first: 500, end: 520 });
  // Never a zero-length load.
  assert.equal(handoverTimes(500, 400, 400, 500).end, 501);
});
