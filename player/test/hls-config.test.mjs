// The hls.js configurations of the live and the DVR playlists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dvrConfig, hintedPartLoaders, liveConfig, prefetchWanted } from '../src/player/hls-config.js';
import { STALL_INCREASE_S } from '../src/player/latency.js';

test('the live playlist: low latency, the player’s own catch-up, hinted parts through the given loaders', () => {
  const pLoader = class {};
  const fLoader = class {};
  const c = liveConfig({ pLoader, fLoader });
  assert.equal(c.lowLatencyMode, true);
  // hls.js's catch-up off: the player sets the rate (latency.js catchUpRate).
  assert.equal(c.maxLiveSyncPlaybackRate, 1);
  assert.equal(c.liveSyncOnStallIncrease, STALL_INCREASE_S);
  assert.equal(c.startFragPrefetch, true);
  assert.equal(c.pLoader, pLoader);
  assert.equal(c.fLoader, fLoader);
  assert.equal(c.capLevelToPlayerSize, true);
  assert.equal(c.liveDurationInfinity, true);
  assert.equal(c.backBufferLength, Infinity);
  assert.equal('pLoader' in liveConfig({}), false);
});

test('the DVR playlist: segments from the chosen position, no catch-up', () => {
  const c = dvrConfig(123.5);
  assert.equal(c.lowLatencyMode, false);
  assert.equal(c.startPosition, 123.5);
  assert.equal(c.maxLiveSyncPlaybackRate, 1);
  assert.equal(c.capLevelToPlayerSize, true);
  assert.equal(c.liveDurationInfinity, true);
  assert.equal(c.backBufferLength, Infinity);
  assert.equal('pLoader' in c, false);
});

test('?prefetch=0 turns the preload-hint loaders off', () => {
  assert.equal(prefetchWanted(''), true);
  assert.equal(prefetchWanted('?token=a.b&prefetch=1'), true);
  assert.equal(prefetchWanted('?prefetch=0'), false);
  assert.deepEqual(hintedPartLoaders(null, '?prefetch=0'), {});
  class Base {}
  const { pLoader, fLoader } = hintedPartLoaders({ DefaultConfig: { loader: Base } }, '');
  assert.ok(pLoader.prototype instanceof Base && fLoader.prototype instanceof Base);
});
