import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mediaToken, parseEventId, sourceUrl, viewerToken } from '../src/player/source.js';

test('event id comes from /watch/{id} or /embed/{id} only', () => {
  assert.equal(parseEventId('/watch/lecture-1'), 'lecture-1');
  assert.equal(parseEventId('/embed/lecture-1/'), 'lecture-1');
  assert.equal(parseEventId('/admin/lecture-1'), null);
  assert.equal(parseEventId('/watch/%2e%2e'), null);
  assert.equal(parseEventId('/watch/%E0%A4%A'), null);
});

test('viewer token: only the token alphabet, bounded', () => {
  assert.equal(viewerToken('?token=1790000000.abc_-'), '1790000000.abc_-');
  assert.equal(viewerToken('?token=' + 'a'.repeat(129)), null);
  assert.equal(viewerToken('?token=a%20b'), null);
  assert.equal(viewerToken(''), null);
});

test('media URLs carry the cohort part of a named token, never the name', () => {
  const cohort = '1790000000.QUJDREVGR0hJSktMTU5PUA';
  const named = cohort + '.Alice.bmFtZW1hYw';
  assert.equal(mediaToken(named), cohort);
  assert.equal(mediaToken(cohort), cohort);
  assert.equal(mediaToken(null), null);
  const url = sourceUrl('ev', named, 'https://amphi.example/watch/ev?token=' + named);
  assert.equal(url, 'https://amphi.example/live/ev/t/' + cohort + '/master.m3u8');
  assert.ok(!url.includes('Alice'));
  assert.equal(sourceUrl('ev', null, 'https://amphi.example/'), 'https://amphi.example/live/ev/master.m3u8');
  assert.equal(sourceUrl(null, cohort, 'https://amphi.example/'), null);
});
