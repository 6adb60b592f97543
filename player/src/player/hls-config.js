// The hls.js configurations of the two playlists the player plays: the low-latency live
// playlist (LL-HLS, caught up to the server's hold-back, hinted parts requested early) and
// the DVR playlist (the whole lecture so far from a chosen moment: segments only, no
// catch-up). Plain objects for `new Hls(config)`, unit-tested in
// player/test/hls-config.test.mjs.

import { STALL_INCREASE_S } from './latency.js';
import { prefetchLoaders } from './prefetch.js';

// What both playlists share.
const COMMON = {
  liveDurationInfinity: true,
  // hls.js never removes what was played: the browser's own eviction (when a
  // SourceBuffer reaches its memory limit, at an append) keeps memory bounded. A back
  // buffer hls.js flushed itself (a finite backBufferLength) is removed each time the
  // playhead enters a segment, when a viewer ~0.7 s behind live is loading that
  // segment's third part; if the flush ends between that part's load and its parsing,
  // hls.js drops its record of the segment, finds "no media" in the part, marks the
  // segment a gap and stops loading for 4 s: a 3-4 s freeze, about 9 times an hour.
  backBufferLength: Infinity,
  // A lecture watched in a small window does not need the 1080p rendition.
  capLevelToPlayerSize: true,
};

// The live playlist; `loaders` are hls.js's pLoader and fLoader (or none).
export function liveConfig(loaders) {
  return {
    lowLatencyMode: true,
    // The target latency comes from the server's PART-HOLD-BACK (LL-HLS). hls.js's own
    // catch-up is off (it waits for a second buffered ahead, which a viewer a few parts
    // behind the edge never has): the player sets the playback rate (latency.js
    // catchUpRate).
    maxLiveSyncPlaybackRate: 1,
    liveSyncOnStallIncrease: STALL_INCREASE_S,
    ...COMMON,
    startFragPrefetch: true,
    ...loaders,
  };
}

// The DVR playlist, starting at media position `startPosition` (s; -1: hls.js's choice).
export function dvrConfig(startPosition) {
  return {
    lowLatencyMode: false,
    startPosition,
    maxLiveSyncPlaybackRate: 1,
    ...COMMON,
  };
}

// Whether the page's query asks for the preload-hint loaders: `?prefetch=0` turns them
// off (for comparison in the benchmarks).
export function prefetchWanted(search) {
  return new URLSearchParams(search).get('prefetch') !== '0';
}

// The loaders that request hinted parts as soon as the playlist names them (prefetch.js),
// unless the page's query turns them off.
export function hintedPartLoaders(Hls, search) {
  if (!prefetchWanted(search)) return {};
  const { pLoader, fLoader } = prefetchLoaders(Hls);
  return { pLoader, fLoader };
}
