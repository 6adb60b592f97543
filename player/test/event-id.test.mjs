import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_ID, eventFromPath } from '../src/player/event-id.js';

test('the event of the named pages only', () => {
  const viewer = ['watch', 'embed'];
  assert.equal(eventFromPath('/watch/lecture-1', viewer), 'lecture-1');
  assert.equal(eventFromPath('/embed/lecture_1/', viewer), 'lecture_1');
  assert.equal(eventFromPath('/moderate/lecture-1', viewer), null);
  assert.equal(eventFromPath('/moderate/lecture-1', ['moderate', 'present']), 'lecture-1');
  assert.equal(eventFromPath('/publish/cs101', ['publish']), 'cs101');
  assert.equal(eventFromPath('/watch/a/b', viewer), null);
  assert.equal(eventFromPath('/watch/', viewer), null);
  assert.equal(eventFromPath('', viewer), null);
  assert.equal(eventFromPath(undefined, viewer), null);
});

test('only ids the server accepts, after percent-decoding', () => {
  const pages = ['watch'];
  assert.equal(eventFromPath('/watch/cs%2D101', pages), 'cs-101');
  for (const bad of ['%2e%2e', '%E0%A4%A', 'Lecture', 'a.b', 'a%2Fb', 'x'.repeat(65), '%20']) {
    assert.equal(eventFromPath('/watch/' + bad, pages), null, bad);
  }
  assert.equal(eventFromPath('/watch/' + 'x'.repeat(64), pages), 'x'.repeat(64));
  assert.ok(EVENT_ID.test('a-b_c9') && !EVENT_ID.test(''));
});
