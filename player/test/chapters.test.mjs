// Chapters and markers: date ranges as hls.js reads them, the API's list, merging.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markerLabel, markersFromApi, markersFromDateRanges, mergeMarkers } from '../src/player/chapters.js';

const T = Date.parse('2026-12-01T10:00:00.000Z');

test('markers from hls.js date ranges: Amphi markers only, in program time', () => {
  const ranges = {
    'chapter-1': {
      id: 'chapter-1',
      class: 'org.amphi.marker',
      startDate: new Date(T),
      attr: { 'X-AMPHI-KIND': 'chapter', 'X-AMPHI-TEXT': 'Part 2 — Entropy' },
    },
    'question-4': {
      id: 'question-4',
      class: 'org.amphi.marker',
      startDate: new Date(T + 5000),
      attr: { 'X-AMPHI-KIND': 'question', 'X-AMPHI-TEXT': 'Why?' },
    },
    ad: { id: 'ad', class: 'com.example.ad', startDate: new Date(T), attr: {} },
    bad: { id: 'bad', class: 'org.amphi.marker', startDate: new Date(NaN), attr: {} },
  };
  const m = markersFromDateRanges(ranges);
  assert.deepEqual(
    m.map((x) => [x.id, x.time, x.kind, x.label, x.via]),
    [
      ['chapter-1', T, 'chapter', 'Part 2 — Entropy', 'playlist'],
      ['question-4', T + 5000, 'question', 'Why?', 'playlist'],
    ],
  );
  assert.equal(markerLabel(m[1]), 'Answered: Why?');
  assert.deepEqual(markersFromDateRanges(undefined), []);
});

test('markers from the API, merged with the playlists', () => {
  const api = markersFromApi({
    chapters: [
      { id: 'chapter-1', kind: 'chapter', text: 'Intro', program_time: T },
      { id: 'x', kind: 'chapter', text: 'no time' },
    ],
  });
  assert.deepEqual(api.map((x) => [x.id, x.via]), [['chapter-1', 'api']]);
  const known = new Map();
  assert.equal(mergeMarkers(known, api), true);
  assert.equal(mergeMarkers(known, api), false, 'the same list changes nothing');
  const fromPlaylist = [{ id: 'chapter-1', time: T, kind: 'chapter', label: 'Intro', via: 'playlist' }];
  assert.equal(mergeMarkers(known, fromPlaylist), true);
  assert.equal(known.get('chapter-1').via, 'playlist');
  // Seen in a playlist once: the API's copy does not take that back.
  assert.equal(mergeMarkers(known, api), false);
  assert.equal(known.get('chapter-1').via, 'playlist');
  assert.deepEqual(markersFromApi(null), []);
});
