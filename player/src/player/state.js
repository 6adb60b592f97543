// The player's state machine, without the DOM: states and their messages, the watchdog
// that turns playback progress into 'playing' / 'buffering' / a reload, and the recovery
// policies for hls.js's fatal errors. Functions take the machine record `m` (fields
// below) and the inputs (times in ms from performance.now()); the caller applies what
// they return. Unit-tested in player/test/state.test.mjs.
//
// States: connecting → waiting ⇄ loading → playing ⇄ buffering; recovering after an
// error; paused / blocked by the viewer or the browser's autoplay policy; error (final).

export const STALL_RELOAD_MS = 4000; // playing, but currentTime has not moved for this long: reload
export const START_RELOAD_MS = 10000; // same, before the first frame of an attempt
export const BUFFERING_AFTER_MS = 1500; // playing, no progress for this long: show "Buffering…"
export const MAX_NETWORK_RETRIES = 3; // startLoad() attempts before loading the source again
export const MEDIA_ERROR_WINDOW_MS = 10000; // media errors closer than this count as repeated

export const MESSAGES = {
  connecting: 'Connecting…',
  waiting: 'Waiting for the lecturer…',
  loading: 'Starting the stream…',
  buffering: 'Buffering…',
  recovering: 'Reconnecting…',
  paused: 'Paused',
  blocked: 'Press Play to start the lecture',
  playing: '',
};

// A new machine: nothing attached yet.
export function newMachine(now) {
  return {
    state: 'connecting',
    attached: false, // a player instance (or native src) is attached to the video
    recoveries: 0,
    networkRetries: 0,
    mediaErrors: 0,
    lastMediaErrorAt: 0,
    lastTime: 0,
    lastProgressAt: now,
    lastStallAt: 0, // last BUFFER_STALLED_ERROR
    playedThisAttempt: false,
    userPaused: false,
  };
}

// Moves to `state` (with `text` instead of its usual message). Returns null when nothing
// changes, else { from, message }; an empty message hides the overlay.
export function enter(m, state, text) {
  if (m.state === state && text === undefined) return null;
  const from = m.state;
  m.state = state;
  return { from, message: text !== undefined ? text : MESSAGES[state] || '' };
}

// A new attempt at playing the source starts (attach) or ends (teardown).
export function resetAttempt(m, now, currentTime) {
  m.lastTime = currentTime;
  m.lastProgressAt = now;
  m.playedThisAttempt = false;
}

// Every tick: did playback move forward, is it stuck? Returns { state, reload }: a state
// to enter (or null) and, when playback is stuck for too long, the reason to reload.
export function watchdog(m, { now, currentTime, paused, readyState }) {
  const out = { state: null, reload: null };
  if (Math.abs(currentTime - m.lastTime) > 0.05) {
    const forward = currentTime > m.lastTime;
    m.lastTime = currentTime;
    if (forward && !paused) {
      m.lastProgressAt = now;
      m.playedThisAttempt = true;
      m.networkRetries = 0;
      if (m.state !== 'playing' && m.attached && readyState >= 3) out.state = 'playing';
    }
  }
  const state = out.state || m.state;
  if (m.attached && !m.userPaused && (!paused || state === 'loading')) {
    const limit = m.playedThisAttempt ? STALL_RELOAD_MS : START_RELOAD_MS;
    const still = now - m.lastProgressAt;
    if (still > limit) {
      out.reload = 'no progress for ' + Math.round(still / 1000) + ' s';
    } else if (m.playedThisAttempt && still > BUFFERING_AFTER_MS && state === 'playing') {
      out.state = 'buffering';
    }
  }
  return out;
}

// What a fatal hls.js error calls for: 'reload' (back to waiting for the stream),
// 'network' (retry loading) or 'media' (recover the media element). `types` and
// `details` are Hls.ErrorTypes and Hls.ErrorDetails.
export function fatalAction(error, types, details) {
  if (error.type === types.NETWORK_ERROR) {
    const noStream =
      error.details === details.MANIFEST_LOAD_ERROR ||
      error.details === details.MANIFEST_LOAD_TIMEOUT ||
      error.details === details.MANIFEST_PARSING_ERROR;
    // No (usable) stream: back to waiting for the lecturer.
    return noStream ? 'reload' : 'network';
  }
  if (error.type === types.MEDIA_ERROR) return 'media';
  return 'reload';
}

// A network error: the delay (ms) before the next startLoad(), or null when the retries
// are spent and the source should be loaded again.
export function networkRetry(m) {
  if (m.networkRetries >= MAX_NETWORK_RETRIES) return null;
  m.networkRetries++;
  m.recoveries++;
  return Math.min(1000 * 2 ** (m.networkRetries - 1), 8000);
}

// A media error at `now`: 'recover' (recoverMediaError), 'swap' (swap the audio codec,
// then recover) for the second in a row, 'reload' for the third.
export function mediaError(m, now) {
  m.mediaErrors = now - m.lastMediaErrorAt < MEDIA_ERROR_WINDOW_MS ? m.mediaErrors + 1 : 1;
  m.lastMediaErrorAt = now;
  if (m.mediaErrors > 2) return 'reload';
  m.recoveries++;
  return m.mediaErrors === 2 ? 'swap' : 'recover';
}
