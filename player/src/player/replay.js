// The replay: once the live has ended, /watch/{event} plays the whole lecture from its
// start (the ended playlists list every segment), offers the MP4 download
// (/live/{event}/recording.mp4) and lists the questions at the moment of the lecture
// they were asked, answered ones marked as such with the moderator's answer; a click
// seeks there. Chapters and
// captions come from chapters.js and captions.js, which work the same on the replay.
//
// Page element (optional): #replay, a section filled here and shown on the replay.

import { el } from './dom.js';
import { formatClock, positionOf } from './dvr.js';
import { fetchFirstMedia } from './playlists.js';

const HAS_MEDIA = /#EXTINF/;

// The recording download URL of an event (with the cohort's media token, if any).
export function downloadUrl(eventId, mediaToken, base) {
  if (!eventId) return null;
  return new URL(
    '/live/' + encodeURIComponent(eventId) + (mediaToken ? '/t/' + mediaToken : '') + '/recording.mp4',
    base
  ).href;
}

// Whether a media playlist is a finished lecture: media and EXT-X-ENDLIST.
export function isRecording(mediaText) {
  return HAS_MEDIA.test(mediaText || '') && /#EXT-X-ENDLIST/.test(mediaText || '');
}

// The ended media playlist's text when the event's live is over, else null.
export async function probeReplay(masterUrl) {
  const text = await fetchFirstMedia(masterUrl, { cache: 'no-store' });
  return text != null && isRecording(text) ? text : null;
}

// Questions viewers may see, with a program time, placed on the recording: each with
// its position (s) in the playlist, oldest first.
export function questionTimeline(questions, playlistText) {
  return (questions || [])
    .filter((q) => q && Number.isFinite(q.program_time) && (q.status === 'approved' || q.status === 'answered'))
    .map((q) => ({
      id: q.id,
      text: String(q.text || ''),
      name: q.name ? String(q.name) : null,
      answered: q.status === 'answered',
      answer: q.status === 'answered' && typeof q.answer === 'string' && q.answer ? q.answer : null,
      position: positionOf(playlistText, q.program_time),
    }))
    .filter((q) => Number.isFinite(q.position))
    .sort((a, b) => a.position - b.position || a.id - b.id);
}

// Fills `root` with the download link and the questions timeline (textContent only).
export function renderReplay(root, { download, items, onSeek }) {
  root.replaceChildren(el('h2', null, 'Replay'));
  if (download) {
    const a = el('a', 'btn download', 'Download the lecture (MP4)');
    a.id = 'download';
    a.href = download;
    a.setAttribute('download', '');
    root.append(a);
  }
  root.append(el('h3', null, 'Questions during the lecture'));
  if (!items.length) {
    root.append(el('p', null, 'No question was asked.'));
    return;
  }
  const ol = el('ol', 'replay-questions');
  for (const q of items) {
    const li = el('li', q.answered ? 'answered' : '');
    li.dataset.position = String(q.position);
    const b = el('button', 'btn time', formatClock(q.position));
    b.type = 'button';
    b.setAttribute('aria-label', 'Play from ' + formatClock(q.position));
    b.addEventListener('click', () => onSeek(q.position));
    li.append(b, el('span', 'text', q.text));
    if (q.answered) li.append(el('span', 'badge', 'Answered'));
    if (q.answer) li.append(el('p', 'answer', q.answer));
    ol.append(li);
  }
  root.append(ol);
}

// Shows the replay section: the download link now, the questions once read.
export async function showReplay({ root, eventId, mediaToken, playlistText, onSeek }) {
  if (!root) return;
  const download = downloadUrl(eventId, mediaToken, location.href);
  renderReplay(root, { download, items: [], onSeek });
  root.hidden = false;
  document.body.classList.add('replay');
  try {
    const res = await fetch('/api/qa/' + encodeURIComponent(eventId) + '/questions', { cache: 'no-store' });
    if (!res.ok) return;
    const json = await res.json();
    const items = questionTimeline(json.questions || [], playlistText);
    renderReplay(root, { download, items, onSeek });
  } catch (_) {
    /* the questions are optional: the download stays */
  }
}
