// What the latency benches share: percentiles, and one hls.js viewer in headless Chromium
// measuring an Amphi event.
//
// Glass-to-glass = Date.now() − hls.playingDate: playingDate is the
// EXT-X-PROGRAM-DATE-TIME of the frame on screen, stamped when the media reached the
// server (it excludes the publisher's own encode and network time). hls.js's `latency`
// is its distance behind the live edge it sees.
import {
  get, launchBrowser, playerStats, sleep, waitFor, waitForPlaying,
} from '../tests/browser/harness.mjs';

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
export const secs = (x) => (x == null ? 'n/a' : x.toFixed(2) + ' s');

// Plays `{http}/watch/{event}` for `seconds` after hls.js settled; returns the samples
// ({ g2g, hlsLat } in seconds) and the height played. Closes its browser.
export async function measureAmphiViewer(http, seconds, event = 'lecture') {
  const browser = await launchBrowser();
  try {
    const master = `${http}/live/${event}/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { what: 'master' });
    await browser.page.goto(`${http}/watch/${event}`);
    await waitForPlaying(browser.page, 30000);
    await sleep(8000); // let hls.js's latency controller settle
    const g2g = [];
    const hlsLat = [];
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      const s = await playerStats(browser.page);
      if (s && s.pdtLatency != null) g2g.push(s.pdtLatency / 1000);
      if (s && s.latency != null) hlsLat.push(s.latency);
      await sleep(500);
    }
    const s = await playerStats(browser.page);
    return { g2g, hlsLat, height: s && s.height };
  } finally {
    await browser.close();
  }
}
