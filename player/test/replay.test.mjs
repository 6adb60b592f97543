// The replay: the download URL, whether a playlist is a finished lecture, and where each
// question sits on the recording.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { downloadUrl, isRecording, questionTimeline } from '../src/player/replay.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const VOD = [
  '#EXTM3U',
  '#EXT-X-MAP:URI="init.mp4"',
  '#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:00.000Z',
  '#EXTINF:2.0,',
  'seg0.m4s',
  '#EXTINF:2.0,',
  'seg1.m4s',
  '#EXT-X-DISCONTINUITY',
  '#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:01:00.000Z',
  '#EXTINF:2.0,',
  'seg2.m4s',
  '#EXT-X-ENDLIST',
].join('\n');

test('the download URL carries the media token as one path segment', () => {
  assert.equal(downloadUrl('cours', null, 'https://a.example/watch/cours'), 'https://a.example/live/cours/recording.mp4');
  assert.equal(downloadUrl('cours', '123.abc', 'https://a.example/'), 'https://a.example/live/cours/t/123.abc/recording.mp4');
  assert.equal(downloadUrl(null, null, 'https://a.example/'), null);
});

test('a finished lecture has media and an ENDLIST', () => {
  assert.equal(isRecording(VOD), true);
  assert.equal(isRecording(VOD.replace('#EXT-X-ENDLIST', '')), false);
  assert.equal(isRecording('#EXTM3U\n#EXT-X-ENDLIST\n'), false);
});

test('questions sit where they were asked, across a gap between sessions', () => {
  const items = questionTimeline(
    [
      { id: 3, text: 'late', status: 'answered', program_time: T0 + 61_000, answer: 'Yes <b>indeed</b>' },
      { id: 1, text: 'early', status: 'approved', program_time: T0 + 1_500, answer: 'not answered yet' },
      { id: 2, text: 'hidden', status: 'hidden', program_time: T0 + 2_000 },
      { id: 4, text: 'no time', status: 'answered', program_time: null },
    ],
    VOD
  );
  assert.deepEqual(
    items.map((q) => [q.id, q.position, q.answered, q.answer]),
    [
      [1, 1.5, false, null],
      [3, 5, true, 'Yes <b>indeed</b>'],
    ]
  );
});
