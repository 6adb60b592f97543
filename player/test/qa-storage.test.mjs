// Values in web storage as JSON; blocked storage reads as the fallback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storageGet, storageSet } from '../src/qa/storage.js';

function withWindow(win, fn) {
  const saved = globalThis.window;
  globalThis.window = win;
  try {
    fn();
  } finally {
    globalThis.window = saved;
  }
}

test('values round-trip as JSON; a missing key is the fallback', () => {
  const map = new Map();
  const store = { getItem: (k) => (map.has(k) ? map.get(k) : null), setItem: (k, v) => map.set(k, String(v)) };
  withWindow({ localStorage: store }, () => {
    assert.equal(storageGet('localStorage', 'k', 'none'), 'none');
    storageSet('localStorage', 'k', { voted: [1, 2] });
    assert.equal(map.get('k'), '{"voted":[1,2]}');
    assert.deepEqual(storageGet('localStorage', 'k', null), { voted: [1, 2] });
    map.set('bad', '{');
    assert.equal(storageGet('localStorage', 'bad', 7), 7);
  });
});

test('blocked storage: reads give the fallback, writes are dropped', () => {
  const blocked = {
    getItem() {
      throw new Error('SecurityError');
    },
    setItem() {
      throw new Error('QuotaExceededError');
    },
  };
  withWindow({ sessionStorage: blocked }, () => {
    assert.equal(storageGet('sessionStorage', 'k', 'fallback'), 'fallback');
    assert.doesNotThrow(() => storageSet('sessionStorage', 'k', 1));
  });
  withWindow({}, () => assert.equal(storageGet('localStorage', 'k', 0), 0));
});
