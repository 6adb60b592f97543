// Preload hints: hls.js reads `EXT-X-PRELOAD-HINT` but never requests the hinted part
// early. These loaders do: when a live media playlist arrives, the hinted part is
// requested at once (the origin holds that request until the part exists), and when
// hls.js asks for that part after the next playlist update, it gets the bytes already
// received instead of a new round trip. Other requests go to hls.js's own loader.
//
// The cache is small and short-lived (a hint is useful for one part duration): at most
// MAX_ENTRIES prefetches, each forgotten after MAX_AGE_MS. Its clock and its fetch are
// injected, so `PrefetchCache` is unit-tested without a network (player/test/).

export const MAX_ENTRIES = 4;
export const MAX_AGE_MS = 10000;

const HINT = /^#EXT-X-PRELOAD-HINT:(.*)$/gm;

// Attribute value of a quoted or plain attribute in an attribute list.
function attribute(list, name) {
  const re = new RegExp('(?:^|,)' + name + '=("[^"]*"|[^,]*)');
  const m = re.exec(list);
  if (!m) return null;
  const v = m[1];
  return v.startsWith('"') ? v.slice(1, -1) : v;
}

// The absolute URLs of whole-part preload hints in a media playlist (byte-range hints
// are left to hls.js: their bytes are not the whole object hls.js asks for).
export function partHints(text, baseUrl) {
  const out = [];
  if (typeof text !== 'string') return out;
  for (const m of text.matchAll(HINT)) {
    const list = m[1];
    if (attribute(list, 'TYPE') !== 'PART') continue;
    if (attribute(list, 'BYTERANGE-START') !== null || attribute(list, 'BYTERANGE-LENGTH') !== null) continue;
    const uri = attribute(list, 'URI');
    if (!uri) continue;
    try {
      out.push(new URL(uri, baseUrl).href);
    } catch (_) {
      /* not a URL: ignored */
    }
  }
  return out;
}

// Prefetched parts by URL. `fetchBytes(url, signal)` resolves to
// `{ data: ArrayBuffer, firstAt, endAt }` (clock times of the first and last byte) or
// rejects; `now()` is the clock.
export class PrefetchCache {
  constructor(fetchBytes, now) {
    this.fetchBytes = fetchBytes;
    this.now = now;
    this.entries = new Map();
  }

  // Starts fetching `url` unless it is already cached.
  prefetch(url) {
    this.expire();
    if (this.entries.has(url)) return;
    while (this.entries.size >= MAX_ENTRIES) {
      const [oldest, entry] = this.entries.entries().next().value;
      entry.controller.abort();
      this.entries.delete(oldest);
    }
    const controller = new AbortController();
    const promise = this.fetchBytes(url, controller.signal);
    // A failed prefetch is not an error: hls.js loads the part itself.
    promise.catch(() => {});
    this.entries.set(url, { at: this.now(), controller, promise });
  }

  // The pending or finished prefetch of `url`, taken out of the cache, or null.
  take(url) {
    this.expire();
    const entry = this.entries.get(url);
    if (!entry) return null;
    this.entries.delete(url);
    return entry.promise;
  }

  expire() {
    const now = this.now();
    for (const [url, entry] of this.entries) {
      if (now - entry.at > MAX_AGE_MS) {
        entry.controller.abort();
        this.entries.delete(url);
      }
    }
  }

  clear() {
    for (const entry of this.entries.values()) entry.controller.abort();
    this.entries.clear();
  }
}

// Loader timings reported to hls.js for prefetched bytes. hls.js estimates bandwidth
// from them: the time the origin held the request waiting for the part is not
// transfer time, so the load is dated from when both hls.js asked and the first byte
// was there, and lasts as long as the bytes took to arrive.
export function handoverTimes(askedAt, firstAt, endAt, now) {
  const start = Math.max(askedAt, firstAt);
  const transfer = Math.max(1, endAt - firstAt);
  return { start, first: start, end: Math.max(now, start + transfer) };
}

async function fetchBytes(url, signal) {
  const response = await fetch(url, { signal, credentials: 'same-origin' });
  if (!response.ok) throw new Error('HTTP ' + response.status);
  const firstAt = performance.now();
  const data = await response.arrayBuffer();
  return { data, firstAt, endAt: performance.now() };
}

// The playlist and fragment loader classes for hls.js's `pLoader` and `fLoader`,
// sharing one cache, built on `Hls.DefaultConfig.loader`.
export function prefetchLoaders(Hls) {
  const Base = Hls.DefaultConfig.loader;
  const cache = new PrefetchCache(fetchBytes, () => performance.now());

  class PlaylistLoader extends Base {
    load(context, config, callbacks) {
      const onSuccess = callbacks.onSuccess;
      super.load(context, config, {
        ...callbacks,
        onSuccess: (response, stats, ctx, details) => {
          const base = response.url || ctx.url;
          for (const url of partHints(response.data, base)) cache.prefetch(url);
          onSuccess(response, stats, ctx, details);
        },
      });
    }
  }

  class FragmentLoader extends Base {
    load(context, config, callbacks) {
      const ranged = context.rangeStart || context.rangeEnd;
      const pending = ranged ? null : cache.take(context.url);
      if (!pending) {
        super.load(context, config, callbacks);
        return;
      }
      // Settled once: by the prefetch's outcome, or by abort/destroy before it.
      const handover = { settled: false };
      this.handover = handover;
      this.context = context;
      this.config = config;
      // For abort(): hls.js's fragment loader waits for onAbort.
      this.callbacks = callbacks;
      const askedAt = performance.now();
      pending.then(
        ({ data, firstAt, endAt }) => {
          if (handover.settled) return;
          handover.settled = true;
          const t = handoverTimes(askedAt, firstAt, endAt, performance.now());
          const stats = this.stats;
          stats.loading.start = t.start;
          stats.loading.first = t.first;
          stats.loading.end = t.end;
          stats.loaded = stats.total = data.byteLength;
          callbacks.onSuccess({ url: context.url, data, code: 200 }, stats, context, null);
        },
        () => {
          if (handover.settled) return;
          handover.settled = true;
          this.callbacks = null;
          super.load(context, config, callbacks);
        },
      );
    }

    abort() {
      if (this.handover && !this.handover.settled) {
        this.handover.settled = true;
        this.stats.aborted = true;
      }
      super.abort();
    }

    destroy() {
      if (this.handover) this.handover.settled = true;
      super.destroy();
    }
  }

  return { pLoader: PlaylistLoader, fLoader: FragmentLoader, cache };
}
