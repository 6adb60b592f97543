// DVR during the live: where a seek goes (live window or DVR playlist), what the Live
// button and the seek bar say, and what is read from the DVR playlists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AT_LIVE_S,
  WINDOW_MARGIN_S,
  dvrUrl,
  formatClock,
  getMarkers,
  liveButtonView,
  markerPositions,
  planSeek,
  playlistSpan,
  positionOf,
  seekBarView,
  setMarkers,
  spokenDuration,
  toProgramMs,
} from '../src/player/dvr.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const s = (n) => n * 1000;

test('the DVR playlist sits beside the live one, token path kept', () => {
  assert.equal(dvrUrl('http://h/live/cs/master.m3u8'), 'http://h/live/cs/dvr.m3u8');
  assert.equal(dvrUrl('http://h/live/cs/t/1.ab/master.m3u8'), 'http://h/live/cs/t/1.ab/dvr.m3u8');
  assert.equal(dvrUrl(null), null);
  // Only the file name changes, not an event called "master.m3u8x".
  assert.equal(dvrUrl('http://h/live/master.m3u8x/master.m3u8'), 'http://h/live/master.m3u8x/dvr.m3u8');
});

test('clock and spoken durations', () => {
  assert.equal(formatClock(0), '0:00');
  assert.equal(formatClock(62.9), '1:02');
  assert.equal(formatClock(3723), '1:02:03');
  assert.equal(formatClock(-4), '0:00');
  assert.equal(formatClock(NaN), '0:00');
  assert.equal(spokenDuration(62), '1 minute 2 seconds');
  assert.equal(spokenDuration(3601), '1 hour 1 second');
  assert.equal(spokenDuration(0), '0 seconds');
});

test('the Live button: "Live" at the edge, "Live −1:02" behind, a label starting with its text', () => {
  for (const behind of [null, undefined, NaN, 0, 1.4, AT_LIVE_S - 0.1]) {
    const v = liveButtonView(behind);
    assert.equal(v.behind, false, String(behind));
    assert.equal(v.text, 'Live');
  }
  const v = liveButtonView(62.4);
  assert.equal(v.behind, true);
  assert.equal(v.text, 'Live \u22121:02');
  assert.ok(v.label.startsWith(v.text), v.label);
  assert.match(v.label, /1 minute 2 seconds behind/);
});

test('seeks: near the edge is live, inside the window a live seek, older the DVR playlist', () => {
  const edge = T0 + s(600);
  const windowStart = edge - s(24);
  const start = T0;
  assert.deepEqual(planSeek({ target: edge, edge, windowStart, start }), { view: 'live' });
  assert.deepEqual(planSeek({ target: edge - s(AT_LIVE_S) + 1, edge, windowStart, start }), { view: 'live' });
  const inWindow = windowStart + s(WINDOW_MARGIN_S) + 1;
  assert.deepEqual(planSeek({ target: inWindow, edge, windowStart, start }), { view: 'live', at: inWindow });
  const old = edge - s(60);
  assert.deepEqual(planSeek({ target: old, edge, windowStart, start }), { view: 'dvr', at: old });
  // Just inside the window but too close to its start: DVR, the window slides.
  assert.equal(planSeek({ target: windowStart + 1, edge, windowStart, start }).view, 'dvr');
  // Before the recording's start: clamped to it.
  assert.deepEqual(planSeek({ target: T0 - s(30), edge, windowStart, start }), { view: 'dvr', at: T0 });
  // Window unknown (native player without a seekable range): DVR.
  assert.equal(planSeek({ target: edge - s(10), edge, windowStart: null, start }).view, 'dvr');
  // Nothing known: stay live.
  assert.deepEqual(planSeek({ target: NaN, edge, windowStart, start }), { view: 'live' });
});

test('the seek bar spans the lecture so far in whole seconds', () => {
  const v = seekBarView({ start: T0, edge: T0 + s(90), position: T0 + s(28) });
  assert.deepEqual(v, { max: 90, value: 28, valueText: '0:28 of 1:30, 1:02 behind live' });
  assert.equal(seekBarView({ start: T0, edge: T0 + s(90), position: T0 + s(89) }).valueText, '1:29 of 1:30, live');
  // Position unknown: at the edge; beyond the ends: clamped.
  assert.equal(seekBarView({ start: T0, edge: T0 + s(90), position: null }).value, 90);
  assert.equal(seekBarView({ start: T0, edge: T0 + s(90), position: T0 - s(5) }).value, 0);
  assert.equal(seekBarView({ start: T0, edge: T0 + s(90), position: T0 + s(200) }).value, 90);
  assert.equal(seekBarView({ start: null, edge: T0, position: T0 }), null);
  assert.equal(seekBarView({ start: T0, edge: T0, position: T0 }), null);
});

test('playlist span: first program date-time to the end of the last complete segment', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    '#EXT-X-TARGETDURATION:2',
    '#EXT-X-PLAYLIST-TYPE:EVENT',
    '#EXT-X-MEDIA-SEQUENCE:4',
    '#EXT-X-MAP:URI="init.mp4"',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:00.000Z',
    '#EXTINF:2.00000,',
    'seg4.m4s',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:02.000Z',
    '#EXTINF:2.00000,',
    'seg5.m4s',
    '#EXT-X-DISCONTINUITY',
    '#EXT-X-MAP:URI="init-1.mp4"',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:01:00.000Z',
    '#EXTINF:1.50000,',
    'seg6.m4s',
    '#EXT-X-PART:DURATION=0.33333,URI="part7.0.m4s",INDEPENDENT=YES',
    '',
  ].join('\n');
  assert.deepEqual(playlistSpan(text), { start: T0, end: T0 + s(61.5) });
  assert.equal(playlistSpan('#EXTM3U\n#EXTINF:2,\nseg0.m4s\n'), null);
  assert.equal(playlistSpan(''), null);
  assert.equal(playlistSpan(null), null);
});

test('media position of a program time: through the segments, across a session gap', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-TARGETDURATION:2',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:00.000Z',
    '#EXTINF:2.00000,',
    'seg0.m4s',
    '#EXTINF:2.00000,',
    'seg1.m4s',
    '#EXT-X-DISCONTINUITY',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:01:00.000Z',
    '#EXTINF:2.00000,',
    'seg2.m4s',
    '',
  ].join('\n');
  assert.equal(positionOf(text, T0), 0);
  assert.equal(positionOf(text, T0 + s(3.5)), 3.5);
  // In the gap between the sessions: the next session's start.
  assert.equal(positionOf(text, T0 + s(30)), 4);
  assert.equal(positionOf(text, T0 + s(61)), 5);
  // Before the first segment: its start; after the last: its end.
  assert.equal(positionOf(text, T0 - s(10)), 0);
  assert.equal(positionOf(text, T0 + s(100)), 6);
  assert.equal(positionOf('#EXTM3U\n', T0), null);
});

test('markers: program times of any form, sorted, placed in percent of the bar', () => {
  setMarkers([
    { time: '2026-12-01T10:01:00.000Z', label: 'Part 2 — Entropy' },
    { time: T0 + s(30), label: 'Question' },
    { time: new Date(T0 + s(10)), label: 'Intro' },
    { time: 'not a date', label: 'dropped' },
    null,
  ]);
  const list = getMarkers();
  assert.deepEqual(
    list.map((m) => m.label),
    ['Intro', 'Question', 'Part 2 — Entropy'],
  );
  const placed = markerPositions(list, T0, T0 + s(40));
  assert.deepEqual(
    placed.map((m) => [m.label, m.percent]),
    [
      ['Intro', 25],
      ['Question', 75],
    ],
  );
  assert.deepEqual(markerPositions(list, T0, T0), []);
  assert.equal(toProgramMs(undefined), NaN);
  setMarkers('nonsense');
  assert.deepEqual(getMarkers(), []);
});
