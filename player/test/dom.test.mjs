// One element with its class and its text: text never parsed as HTML.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { el } from '../src/player/dom.js';

// A document that makes plain records, enough to see what el sets.
function withDocument(fn) {
  const saved = globalThis.document;
  globalThis.document = { createElement: (tag) => ({ tagName: tag.toUpperCase(), className: '', textContent: '' }) };
  try {
    fn();
  } finally {
    globalThis.document = saved;
  }
}

test('tag, class and text', () => {
  withDocument(() => {
    assert.deepEqual(el('p', 'answer', 'Yes'), { tagName: 'P', className: 'answer', textContent: 'Yes' });
    assert.deepEqual(el('ol'), { tagName: 'OL', className: '', textContent: '' });
    // Numbers become text; null and undefined leave it empty; '' and 0 are text.
    assert.equal(el('span', null, 3).textContent, '3');
    assert.equal(el('span', null, null).textContent, '');
    assert.equal(el('span', 'x', 0).textContent, '0');
    // Markup stays text.
    assert.equal(el('span', null, '<b>no</b>').textContent, '<b>no</b>');
  });
});
