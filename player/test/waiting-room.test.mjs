// The waiting room's countdown to a scheduled start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countdown, COUNTDOWN_WITHIN_MS } from '../src/player/waiting-room.js';

const start = '2026-12-01T14:00:00Z';
const at = (ms) => Date.parse(start) - ms;

test('counts down in minutes and seconds, then hours', () => {
  assert.equal(countdown(start, at(65_000)), 'Starts in 1:05');
  assert.equal(countdown(start, at(999)), 'Starts in 0:01');
  assert.equal(countdown(start, at(3_723_000)), 'Starts in 1:02:03');
  assert.equal(countdown(start, at(59 * 60_000 + 59_500)), 'Starts in 1:00:00');
});

test('nothing beyond a day, starting soon once passed, nothing for junk', () => {
  assert.equal(countdown(start, at(COUNTDOWN_WITHIN_MS + 1000)), '');
  assert.equal(countdown(start, at(0)), 'Starting soon');
  assert.equal(countdown(start, at(-600_000)), 'Starting soon');
  assert.equal(countdown('tomorrow', Date.now()), '');
});
