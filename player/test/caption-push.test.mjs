// Pushed live captions: the stream's URL, what is taken from an event, where a cue goes
// on the media timeline, and which cues are kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captionsStreamUrl, cueKey, cueText, keptCues, KEEP_BEHIND_MS, MAX_CUES, mediaSpan, parseCue } from '../src/player/caption-push.js';

test('the stream sits beside the live playlist, viewer token kept', () => {
  assert.equal(captionsStreamUrl('https://a.example/live/cs101/master.m3u8'), 'https://a.example/live/cs101/captions/events');
  assert.equal(
    captionsStreamUrl('https://a.example/live/cs101/t/1900000000.abc/master.m3u8'),
    'https://a.example/live/cs101/t/1900000000.abc/captions/events',
  );
  assert.equal(captionsStreamUrl('https://a.example/live/cs101/720p/index.m3u8'), null);
  assert.equal(captionsStreamUrl(null), null);
});

test('an event is a cue only with program times and text', () => {
  assert.deepEqual(parseCue('{"start":1000,"end":3000,"text":"x < y"}'), { start: 1000, end: 3000, text: 'x < y' });
  for (const bad of ['', 'nope', 'null', '{"start":1,"end":1,"text":"x"}', '{"start":1,"end":2,"text":"  "}', '{"start":"1","end":2,"text":"x"}', '{"start":1,"end":2}']) {
    assert.equal(parseCue(bad), null, bad);
  }
  assert.equal(parseCue(JSON.stringify({ start: 1, end: 2, text: 'x'.repeat(5000) })).text.length, 2000);
  assert.notEqual(cueKey({ start: 1, end: 2, text: 'a' }), cueKey({ start: 1, end: 2, text: 'b' }));
});

test('cue text is escaped for the browser WebVTT reader', () => {
  assert.equal(cueText('<b>x</b> & y'), '&lt;b&gt;x&lt;/b&gt; &amp; y');
});

test('a cue goes where hls.js plays its program time', () => {
  // Program time 1764000020600 ms is on screen at media position 20.6 s when the offset
  // is 1764000000000 ms.
  const [s, e] = mediaSpan({ start: 1764000020600, end: 1764000022600 }, 1764000000000);
  assert.ok(Math.abs(s - 20.6) < 1e-9 && Math.abs(e - 22.6) < 1e-9);
});

test('old cues go, and never more than MAX_CUES stay', () => {
  const now = 1764000100000;
  const cues = [
    { start: now - KEEP_BEHIND_MS - 5000, end: now - KEEP_BEHIND_MS - 1, text: 'old' },
    { start: now - 1000, end: now + 1000, text: 'current' },
  ];
  assert.deepEqual(keptCues(cues, now).map((c) => c.text), ['current']);
  assert.equal(keptCues(cues, null).length, 2);
  const many = Array.from({ length: MAX_CUES + 7 }, (_, i) => ({ start: now + i, end: now + i + 1, text: String(i) }));
  const kept = keptCues(many, now);
  assert.equal(kept.length, MAX_CUES);
  assert.equal(kept[0].text, '7');
});
