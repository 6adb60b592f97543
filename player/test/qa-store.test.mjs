// The viewers' order of questions, and what counts as a question from the API.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byDisplayOrder, compareIds, isQuestion, STATUSES } from '../src/qa/store.js';

test('pinned first, then most votes, then oldest first', () => {
  const qs = [
    { id: 10, votes: 1 },
    { id: 2, votes: 5 },
    { id: 3, votes: 0, pinned: true },
    { id: 9, votes: 1 },
  ];
  assert.deepEqual(qs.sort(byDisplayOrder).map((q) => q.id), [3, 2, 9, 10]);
});

test('ids compare as numbers when both are, else as text', () => {
  assert.ok(compareIds(9, 10) < 0);
  assert.ok(compareIds('9', '10') < 0);
  assert.ok(compareIds('a', 'b') < 0);
  assert.equal(compareIds(4, '4'), 0);
});

test('a question has an id and a text', () => {
  assert.ok(isQuestion({ id: 1, text: 'Why?' }));
  assert.ok(isQuestion({ id: 'q1', text: '' }));
  for (const bad of [null, 'x', { id: 1 }, { text: 'Why?' }, { id: {}, text: 'x' }]) assert.ok(!isQuestion(bad), JSON.stringify(bad));
  assert.deepEqual(STATUSES, ['pending', 'approved', 'answered', 'hidden']);
});
