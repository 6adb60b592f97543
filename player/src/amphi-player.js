// <amphi-player>: embeds an Amphi live lecture in any page (a MOOC, a course site).
//
//   <script src="https://amphi.example.org/assets/amphi-player.js" defer></script>
//   <amphi-player event="cs101" server="https://amphi.example.org" qa></amphi-player>
//
// Attributes:
//   event     the event id (required)
//   server    the Amphi server's origin; defaults to the origin this script was loaded from
//   qa        show the Q&A panel beside (or, in a narrow frame, below) the video
//   captions  URL of a WebVTT captions file (same origin as the server, or https)
//   title     accessible name of the frame (default "Live lecture")
//   token     viewer token of a private event (minted by the course platform)
//
// It renders an <iframe> of ${server}/embed/${event}: the player runs on the Amphi
// origin, so it works cross-origin, needs no CORS and no cookies on the host page, and the
// host's styles cannot break it. Size the element with CSS (width; the height follows a
// 16:9 ratio, taller with qa) or set an explicit height.
//
// Fallback: put a link inside the tag; browsers without JavaScript (or without custom
// elements) show it, and it is hidden once the player renders:
//   <amphi-player event="cs101" server="https://amphi.example.org">
//     <a href="https://amphi.example.org/watch/cs101">Watch the lecture</a>
//   </amphi-player>
// The element itself shows a link to the watch page when its attributes are wrong or the
// frame has not loaded after 20 s (a blocked network, a strict host CSP).
(function () {
  'use strict';

  if (typeof window === 'undefined' || !window.customElements || customElements.get('amphi-player')) return;

  const EVENT_RE = /^[A-Za-z0-9_-]{1,64}$/;
  const scriptOrigin = (() => {
    try {
      return new URL(document.currentScript.src).origin;
    } catch (_) {
      return location.origin;
    }
  })();

  const STYLE = `
    :host { display: block; position: relative; width: 100%; aspect-ratio: 16 / 9; background: #000; }
    :host([qa]) { aspect-ratio: auto; height: min(80vh, 44rem); min-height: 22rem; }
    :host([hidden]) { display: none; }
    iframe { display: block; width: 100%; height: 100%; border: 0; }
    .fallback { position: absolute; inset: auto 0 0 0; padding: 0.5rem; text-align: center;
        background: rgba(0, 0, 0, 0.8); color: #fff; font: 16px/1.4 system-ui, sans-serif; }
    .fallback a { color: #9cc3ff; }
    .fallback.error { inset: 0; display: flex; align-items: center; justify-content: center; }
  `;

  class AmphiPlayer extends HTMLElement {
    static get observedAttributes() {
      return ['event', 'server', 'qa', 'captions', 'title', 'token'];
    }

    constructor() {
      super();
      this.attachShadow({ mode: 'open' });
      this._src = null;
    }

    connectedCallback() {
      this._render();
    }

    attributeChangedCallback() {
      if (this.isConnected) this._render();
    }

    _server() {
      const raw = this.getAttribute('server');
      try {
        const url = new URL(raw || scriptOrigin, location.href);
        if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
        return url.origin;
      } catch (_) {
        return null;
      }
    }

    _render() {
      const event = (this.getAttribute('event') || '').trim();
      const server = this._server();
      const style = document.createElement('style');
      style.textContent = STYLE;
      clearTimeout(this._timer);
      if (!server || !EVENT_RE.test(event)) {
        const msg = document.createElement('p');
        msg.className = 'fallback error';
        msg.textContent = 'Amphi: this player needs valid event and server attributes.';
        this.shadowRoot.replaceChildren(style, msg);
        this._src = null;
        return;
      }
      const path = '/embed/' + encodeURIComponent(event);
      const params = new URLSearchParams();
      if (this.hasAttribute('qa') && this.getAttribute('qa') !== 'false') params.set('qa', '1');
      const captions = this.getAttribute('captions');
      if (captions) params.set('captions', captions);
      const token = (this.getAttribute('token') || '').trim();
      if (token) params.set('token', token);
      const query = params.toString();
      const src = server + path + (query ? '?' + query : '');
      if (src === this._src) return;
      this._src = src;

      const frame = document.createElement('iframe');
      frame.src = src;
      frame.title = this.getAttribute('title') || 'Live lecture';
      frame.allow = 'autoplay; fullscreen; picture-in-picture';
      frame.referrerPolicy = 'strict-origin-when-cross-origin';
      const fallback = document.createElement('p');
      fallback.className = 'fallback';
      fallback.hidden = true;
      const link = document.createElement('a');
      link.href = server + '/watch/' + encodeURIComponent(event) + (token ? '?token=' + encodeURIComponent(token) : '');
      link.textContent = 'Open the lecture in a new tab';
      link.target = '_blank';
      link.rel = 'noopener';
      fallback.append(link);
      let loaded = false;
      frame.addEventListener('load', () => {
        loaded = true;
        fallback.hidden = true;
      });
      this._timer = setTimeout(() => {
        if (!loaded) fallback.hidden = false;
      }, 20000);
      this.shadowRoot.replaceChildren(style, frame, fallback);
    }

    disconnectedCallback() {
      clearTimeout(this._timer);
      this._src = null;
    }
  }

  customElements.define('amphi-player', AmphiPlayer);
})();
