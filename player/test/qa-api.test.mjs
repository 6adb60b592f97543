// The Q&A API over HTTP: one request that never throws, and the messages of error answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiBase, errorMessage, request } from '../src/qa/api.js';

test('the event’s API base, its id escaped', () => {
  assert.equal(apiBase('cs-101'), '/api/qa/cs-101');
  assert.equal(apiBase('a/b'), '/api/qa/a%2Fb');
});

test('error answers say what to do', () => {
  assert.equal(errorMessage(429, null, 7), 'You are asking too fast. Try again in 7 s.');
  assert.equal(errorMessage(429, null, null), 'You are asking too fast. Try again in a few s.');
  assert.match(errorMessage(403, null, null), /blocked you/);
  assert.match(errorMessage(401, { error: 'token_required' }, null), /private/);
  assert.match(errorMessage(401, { error: 'invalid_viewer' }, null), /expired/);
  assert.match(errorMessage(401, null, null), /moderator link/);
  assert.equal(errorMessage(404, null, null), 'Q&A is not available for this event.');
  assert.equal(errorMessage(400, { message: 'too long' }, null), 'The question was not accepted: too long');
  assert.equal(errorMessage(400, null, null), 'The question was not accepted.');
  assert.equal(errorMessage(500, { error: 'store' }, null), 'Something went wrong (HTTP 500): store');
});

// Runs `fn` with a fetch answering `answer(url, init)` (a Response, or a throw).
async function withFetch(answer, fn) {
  const saved = globalThis.fetch;
  const seen = [];
  globalThis.fetch = async (url, init) => {
    seen.push({ url, init });
    return answer(url, init);
  };
  try {
    return { value: await fn(), seen };
  } finally {
    globalThis.fetch = saved;
  }
}

test('a request: bearer and JSON body sent, JSON answer read', async () => {
  const { value, seen } = await withFetch(
    () => new Response(JSON.stringify({ id: 3 }), { status: 201 }),
    () => request('POST', '/api/qa/c/questions', { token: 'v.1', body: { text: 'Why?' } })
  );
  assert.deepEqual(value, { ok: true, status: 201, data: { id: 3 }, retryAfter: null, message: '' });
  const { init } = seen[0];
  assert.equal(init.method, 'POST');
  assert.equal(init.headers.Authorization, 'Bearer v.1');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.equal(init.body, '{"text":"Why?"}');
  assert.equal(init.cache, 'no-store');
});

test('an error answer carries its message and Retry-After; a network failure is status 0', async () => {
  const limited = await withFetch(
    () => new Response('{"error":"rate_limited"}', { status: 429, headers: { 'Retry-After': '4' } }),
    () => request('GET', '/x')
  );
  assert.equal(limited.value.retryAfter, 4);
  assert.equal(limited.value.message, 'You are asking too fast. Try again in 4 s.');
  assert.equal('Authorization' in limited.seen[0].init.headers, false);
  // A 429 without Retry-After: unknown (the panel waits its default), not "0 s".
  const bare = await withFetch(() => new Response('', { status: 429 }), () => request('GET', '/x'));
  assert.equal(bare.value.retryAfter, null);
  assert.equal(bare.value.message, 'You are asking too fast. Try again in a few s.');
  const garbled = await withFetch(() => new Response('not json', { status: 200 }), () => request('GET', '/x'));
  assert.equal(garbled.value.data, null);
  const offline = await withFetch(
    () => {
      throw new TypeError('offline');
    },
    () => request('GET', '/x')
  );
  assert.deepEqual(offline.value, { ok: false, status: 0, data: null, retryAfter: null, message: 'Cannot reach the server.' });
});
