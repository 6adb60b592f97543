// Values kept in the browser's localStorage or sessionStorage as JSON; blocked storage
// (private mode, a sandboxed frame) reads as the fallback and writes nothing.
// Unit-tested in player/test/qa-storage.test.mjs.

export function storageGet(store, key, fallback) {
  try {
    const v = window[store].getItem(key);
    return v === null ? fallback : JSON.parse(v);
  } catch (_) {
    return fallback;
  }
}

export function storageSet(store, key, value) {
  try {
    window[store].setItem(key, JSON.stringify(value));
  } catch (_) {
    /* private mode or blocked storage: fine for this session */
  }
}
