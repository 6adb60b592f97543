// The buttons' labels: each is the button's text and its accessible name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fullscreenLabel, muteLabel, playLabel } from '../src/player/controls.js';

test('Play while paused, Pause while playing', () => {
  assert.equal(playLabel(true), 'Play');
  assert.equal(playLabel(false), 'Pause');
});

test('Unmute while muted or at volume 0, else Mute', () => {
  assert.equal(muteLabel(true, 1), 'Unmute');
  assert.equal(muteLabel(false, 0), 'Unmute');
  assert.equal(muteLabel(false, 0.5), 'Mute');
});

test('full screen and back', () => {
  assert.equal(fullscreenLabel(false), 'Full screen');
  assert.equal(fullscreenLabel(true), 'Exit full screen');
});
