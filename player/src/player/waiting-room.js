// The event's title and planned start (from /api/events) for the title bar and the
// waiting room. Polled while nobody is publishing, so a changed title or start shows up.

import { announceEvent } from './qa-glue.js';

export const EVENT_REFRESH_MS = 30000;

export function formatStart(iso, now) {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return '';
  let when;
  try {
    when = d.toLocaleString(undefined, { weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit' });
  } catch (_) {
    when = d.toString();
  }
  const mins = Math.round((d.getTime() - now) / 60000);
  if (mins > 0 && mins < 120) return 'Starts ' + when + ' (in ' + mins + ' min)';
  if (mins > 0) return 'Starts ' + when;
  return 'Scheduled for ' + when;
}

// Loads the event's details into `els` (titleEl, wrTitle, wrStarts: each optional) and
// `onEvent(ev)`, again every EVENT_REFRESH_MS while `stillWaiting()`.
export function followEventInfo(eventId, els, onEvent, stillWaiting) {
  const { titleEl, wrTitle, wrStarts } = els;
  async function load() {
    try {
      const res = await fetch('/api/events', { cache: 'no-store' });
      if (!res.ok) return;
      const events = await res.json();
      const ev = Array.isArray(events) && events.find((e) => e && e.id === eventId);
      if (!ev) return;
      onEvent(ev);
      const title = typeof ev.title === 'string' && ev.title ? ev.title : eventId;
      if (titleEl) titleEl.textContent = title;
      if (wrTitle) wrTitle.textContent = title;
      document.title = title + ' · Amphi';
      if (wrStarts) {
        const text = typeof ev.starts_at === 'string' && ev.starts_at ? formatStart(ev.starts_at, Date.now()) : '';
        wrStarts.textContent = text;
        wrStarts.hidden = text === '';
      }
      announceEvent(ev);
    } catch (_) {
      /* the title is cosmetic */
    } finally {
      setTimeout(() => {
        if (stillWaiting()) load();
      }, EVENT_REFRESH_MS);
    }
  }
  load();
}
