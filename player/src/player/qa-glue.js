// What the player offers the other scripts of the page (the Q&A panel, qa.js): the
// program time of the frame on screen, so questions line up with the video each viewer
// actually watches, and DOM events at every state change and when the event's details
// (title, start) are known.
//
// window.amphiPlayer: { hls, event, eventId, stats(), programTime(), state }.
// document events: 'amphi:state' { state }, 'amphi:event' { event }.

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
