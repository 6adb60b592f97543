// Embedding from another origin: a host page served by this test on its own port embeds
// the lecture with a plain <iframe src=".../embed/lecture"> and another with the
// <amphi-player> element. Before the lecturer publishes, the embed shows the waiting room
// with the event's title; once a 640x360 publisher is live, both embedded players start by
// themselves and play. The embed is keyboard-usable (k pauses and resumes) and ?qa=1 adds
// the Q&A panel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher,
  startStaticServer, waitFor, waitForPlaying,
} from './harness.mjs';

const EVENT = 'lecture';

// The frame of `page` at exactly `url` (iframes in shadow roots included).
function findFrame(page, url, timeoutMs = 10000) {
  return waitFor(() => page.frames().find((f) => f.url() === url), timeoutMs, { what: `a frame at ${url}` });
}

// Playing means currentTime advancing: within 10 s, some 2 s window shows at least 1 s
// of progress (the first seconds after a publish start can stall on two loaded cores).
async function advances(frame, what) {
  let moved = 0;
  let b;
  for (let attempt = 0; attempt < 5 && moved < 1; attempt++) {
    const a = await playerStats(frame);
    await sleep(2000);
    b = await playerStats(frame);
    moved = b.currentTime - a.currentTime;
  }
  console.log(`${what}: currentTime advanced ${moved.toFixed(2)} s in 2 s (state ${b.state}, ${b.height}p)`);
  assert.ok(moved >= 1, `${what}: currentTime advanced ${moved.toFixed(2)} s in 2 s`);
}

test('the lecture embeds cross-origin: waiting room, then playback', { timeout: 150000 }, async () => {
  let amphi, host, publisher, browser;
  try {
    amphi = await startAmphi({ events: [`${EVENT}:secretkey`] });
    const events = JSON.parse((await get(`${amphi.http}/api/events`)).text);
    const title = (events.find((e) => e.id === EVENT) || {}).title || EVENT;

    host = await startStaticServer({
      '/iframe.html': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course page</title></head>
<body><h1>Week 3</h1>
<iframe id="lecture" src="${amphi.http}/embed/${EVENT}" width="640" height="360" title="Live lecture"
  allow="autoplay; fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>
</body></html>`,
      '/element.html': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course page</title>
<script src="${amphi.http}/assets/amphi-player.js" defer></script></head>
<body><h1>Week 3</h1>
<amphi-player id="plain" event="${EVENT}" server="${amphi.http}" style="width:640px">
  <a href="${amphi.http}/watch/${EVENT}">Watch the lecture</a>
</amphi-player>
<amphi-player id="with-qa" event="${EVENT}" server="${amphi.http}" qa style="width:900px"></amphi-player>
</body></html>`,
    });
    assert.notEqual(new URL(host.url).origin, new URL(amphi.http).origin, 'the host page is another origin');

    browser = await launchBrowser();
    const { page } = browser;

    // ---- waiting room before the lecturer is live
    await page.goto(`${host.url}/iframe.html`);
    const frame = await findFrame(page, `${amphi.http}/embed/${EVENT}`);
    await waitFor(() => frame.evaluate(() => document.body.dataset.state === 'waiting'), 15000, {
      what: 'the embed to wait for the lecturer',
    });
    const wr = frame.locator('#wr-title');
    await waitFor(async () => (await wr.isVisible()) && (await wr.textContent()) === title, 10000, {
      what: `the waiting room to show the title "${title}"`,
    });
    assert.match(await frame.textContent('#message'), /waiting/i);
    assert.equal(await frame.locator('.topbar').count(), 0, 'the embed has no site chrome');
    assert.equal(await frame.locator('#qa').isVisible(), false, 'no Q&A panel without ?qa=1');
    assert.equal(await frame.locator('video track#captions').count(), 1, 'a captions track slot');

    // ---- the lecturer goes live: the embed starts by itself
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: '640x360' });
    await waitForPlaying(frame, 45000, 'the iframe embed to start playing');
    await advances(frame, 'iframe embed');
    assert.equal(await wr.isVisible(), false, 'the waiting room is gone once playing');
    const box = await page.locator('#lecture').boundingBox();
    const videoBox = await frame.locator('#video').boundingBox();
    assert.ok(videoBox.width >= box.width - 2 && videoBox.height >= box.height - 2, 'the video fills the frame');

    // Keyboard: k pauses and resumes.
    await frame.locator('#stage').focus();
    await frame.locator('#stage').press('k');
    await waitFor(() => frame.evaluate(() => document.getElementById('video').paused), 3000, { what: 'k to pause' });
    await frame.locator('#stage').press('k');
    await waitForPlaying(frame, 15000, 'k to resume playback');

    // ---- the <amphi-player> element
    const page2 = await browser.context.newPage();
    page2.setDefaultTimeout(15000);
    await page2.goto(`${host.url}/element.html`);
    const plain = await findFrame(page2, `${amphi.http}/embed/${EVENT}`);
    const withQa = await findFrame(page2, `${amphi.http}/embed/${EVENT}?qa=1`);
    assert.equal(await page2.locator('#plain > a').isVisible(), false, 'the fallback link is hidden once rendered');
    await waitForPlaying(plain, 30000, 'the <amphi-player> embed to play');
    await advances(plain, '<amphi-player> embed');
    await waitFor(() => withQa.locator('#qa-text').isVisible(), 10000, { what: 'the Q&A panel in the ?qa=1 embed' });

    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the pages');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, host, amphi);
  }
});
