// The event's title and planned start (from /api/events) for the title bar and the
// waiting room. Polled while nobody is publishing, so a changed title or start shows up;
// a start less than a day away counts down every second.

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

export const COUNTDOWN_WITHIN_MS = 24 * 3600 * 1000;

// "Starts in 1:02:03" / "Starts in 4:05" while the start is less than a day ahead;
// "Starting soon" once it has passed (the lecturer is late, or checking in the green
// room); '' when there is nothing to count.
export function countdown(iso, now) {
  const t = new Date(iso).getTime();
  if (!Number.isFinite(t)) return '';
  const left = t - now;
  if (left > COUNTDOWN_WITHIN_MS) return '';
  if (left <= 0) return 'Starting soon';
  const total = Math.ceil(left / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const two = (n) => String(n).padStart(2, '0');
  return 'Starts in ' + (h > 0 ? h + ':' + two(m) : String(m)) + ':' + two(sec);
}

// Loads the event's details into `els` (titleEl, wrTitle, wrStarts: each optional) and
// `onEvent(ev)`, again every EVENT_REFRESH_MS while `stillWaiting()`.
export function followEventInfo(eventId, els, onEvent, stillWaiting) {
  const { titleEl, wrTitle, wrStarts } = els;
  // The countdown sits under the planned start (made here when the page has no slot).
  let wrCountdown = els.wrCountdown || null;
  if (!wrCountdown && wrStarts && wrStarts.parentNode && typeof document !== 'undefined') {
    wrCountdown = document.createElement('p');
    wrCountdown.id = 'wr-countdown';
    wrCountdown.className = 'wr-starts waiting-only';
    wrCountdown.setAttribute('aria-live', 'off');
    wrCountdown.hidden = true;
    wrStarts.parentNode.insertBefore(wrCountdown, wrStarts.nextSibling);
  }
  let startsAt = null;
  let ticking = false;
  function tick() {
    if (!wrCountdown) return;
    const text = startsAt && stillWaiting() ? countdown(startsAt, Date.now()) : '';
    wrCountdown.textContent = text;
    wrCountdown.hidden = text === '';
    if (text && stillWaiting()) {
      setTimeout(tick, 1000 - (Date.now() % 1000));
    } else {
      ticking = false;
    }
  }
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
      startsAt = typeof ev.starts_at === 'string' && ev.starts_at ? ev.starts_at : null;
      if (!ticking && startsAt) {
        ticking = true;
        tick();
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
