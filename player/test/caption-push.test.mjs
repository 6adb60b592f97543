// Pushed live captions: the stream's URL, what is taken from an event, where a cue goes
// on the media timeline, and which cues are kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captionPush, captionsStreamUrl, cueKey, cueText, keptCues, KEEP_BEHIND_MS, MAX_CUES, mediaSpan, parseCue } from '../src/player/caption-push.js';

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

// The controller against stand-ins for the page's objects (the browser test drives the
// real ones): cues land at the media time of their program time, a replayed window adds
// nothing twice, a moved offset re-places every cue, a refused stream falls back.
function stage() {
  const streams = [];
  globalThis.EventSource = class {
    static CLOSED = 2;
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      streams.push(this);
    }
    close() {
      this.readyState = 2;
      this.closed = true;
    }
  };
  globalThis.window = {
    VTTCue: class {
      constructor(s, e, t) {
        Object.assign(this, { startTime: s, endTime: e, text: t });
      }
    },
  };
  const track = { cues: [], addCue: (c) => track.cues.push(c), removeCue: (c) => (track.cues = track.cues.filter((x) => x !== c)) };
  const listeners = {};
  const video = {
    currentTime: 10,
    addTextTrack: (kind, label, lang) => Object.assign(track, { kind, label, lang }),
    addEventListener: (n, f) => (listeners[n] = f),
    removeEventListener: (n) => delete listeners[n],
  };
  return { streams, track, video, listeners };
}

test('the push controller places, deduplicates, re-places and falls back', () => {
  const { streams, track, video, listeners } = stage();
  let offset = 1764000000000;
  const failures = [];
  const push = captionPush(video, { label: () => 'English', language: () => 'en', onFail: (why) => failures.push(why) });
  push.start('https://a.example/live/cs101/captions/events', () => offset);
  assert.equal(track.kind, 'captions');
  assert.equal(track.label, 'English');
  const es = streams[0];
  const send = (start, text) => es.onmessage({ data: JSON.stringify({ start, end: start + 2000, text }) });
  send(offset + 12000, 'a < b');
  assert.deepEqual(track.cues.map((c) => [c.startTime, c.endTime, c.text]), [[12, 14, 'a &lt; b']]);
  // The window again on a reconnect: nothing twice.
  send(offset + 12000, 'a < b');
  send(offset + 13000, 'next');
  assert.equal(track.cues.length, 2);
  // A new media timeline (the offset moved by 5 s): every cue placed again.
  offset += 5000;
  listeners.timeupdate();
  assert.deepEqual(track.cues.map((c) => c.startTime), [7, 8]);
  // The same URL again (a new hls.js instance): the stream is kept.
  push.start('https://a.example/live/cs101/captions/events', () => offset);
  assert.equal(streams.length, 1);
  // Refused for good: closed, cues cleared, the caller told.
  es.readyState = 2;
  es.onerror();
  assert.ok(es.closed);
  assert.equal(track.cues.length, 0);
  assert.deepEqual(failures, ['refused']);
  assert.equal(push.active(), false);
  delete globalThis.EventSource;
  delete globalThis.window;
});
