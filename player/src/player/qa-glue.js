// What the player offers the other scripts of the page (the Q&A panel, qa.js): the
// program time of the frame on screen, so questions line up with the video each viewer
// actually watches, and DOM events at every state change and when the event's details
// (title, start) are known.
//
// window.amphiPlayer: { hls, event, eventId, stats(), programTime(), state }.
// document events: 'amphi:state' { state }, 'amphi:event' { event }.
// `playerStats` (what stats() returns) is pure, unit-tested in player/test/qa-glue.test.mjs.

export function announceState(state) {
  document.dispatchEvent(new CustomEvent('amphi:state', { detail: { state } }));
}

export function announceEvent(event) {
  document.dispatchEvent(new CustomEvent('amphi:event', { detail: { event } }));
}

// `api` holds the getters: hls(), event(), state(), stats(), programTime().
export function exposePlayer(eventId, api) {
  window.amphiPlayer = Object.freeze({
    get hls() {
      return api.hls();
    },
    get event() {
      return api.event();
    },
    eventId,
    stats: api.stats,
    programTime: api.programTime,
    get state() {
      return api.state();
    },
  });
}

// What stats() reports: the player's record `S`, the video element and the positions
// measured by the caller (position.js): `latency` (s), `pdtLatency` (ms), `behind` (s).
export function playerStats(S, video, { latency, pdtLatency, behind }) {
  const hls = S.hls;
  const level = hls ? hls.currentLevel : -1;
  const current = hls && level >= 0 ? hls.levels[level] : null;
  return {
    currentTime: video.currentTime,
    latency,
    pdtLatency,
    level,
    height: current ? current.height : video.videoHeight || null,
    levels: hls ? hls.levels.map((l) => l.height) : [],
    state: S.state,
    recoveries: S.recoveries,
    mode: S.mode,
    paused: video.paused,
    muted: video.muted,
    targetLatency: hls ? hls.targetLatency : null,
    view: S.view,
    behind,
    lectureStart: S.lectureStart,
  };
}
