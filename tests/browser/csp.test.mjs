// Browser hardening: every player page is served with a strict Content-Security-Policy
// (scripts and styles from the origin only, no inline code, framing per event), every
// response with `X-Content-Type-Options: nosniff` and a `Referrer-Policy`; and the pages
// still work under it in Chromium: no CSP violation is reported (neither the
// `securitypolicyviolation` event nor a console message), no script error, and /watch
// plays a live 640x360 lecture through hls.js (its blob: worker and MediaSource URLs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FAKE_MEDIA_ARGS, cleanup, dumpDiagnostics, get, launchBrowser, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

const EVENT = 'lecture';
const KEY = 'csp-test-key';

// The pages, and what the page needs in its address (moderator pages take the token in
// the fragment, the publish page the key).
const pages = (token) => [
  { path: '/', name: 'status' },
  { path: `/watch/${EVENT}`, name: 'watch', plays: true },
  { path: `/embed/${EVENT}`, name: 'embed', plays: true },
  { path: `/moderate/${EVENT}`, hash: `#token=${token}`, name: 'moderate' },
  { path: `/present/${EVENT}`, hash: `#token=${token}`, name: 'present' },
  { path: `/publish/${EVENT}`, hash: `#key=${KEY}`, name: 'publish' },
];

function directives(policy) {
  return new Map(
    policy
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const [name, ...values] = d.split(/\s+/);
        return [name, values];
      }),
  );
}

test('every page has a strict CSP and works under it in Chromium', { timeout: 180000 }, async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi({ events: [`${EVENT}:${KEY}`] });
    const token = await amphi.moderatorToken(EVENT);
    publisher = startPublisher(amphi.rtmp, KEY, { size: '640x360' });
    const master = `${amphi.http}/live/${EVENT}/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { intervalMs: 500, what: 'the event to be live' });

    // 1. Headers of every page.
    for (const p of pages(token)) {
      const res = await fetch(amphi.http + p.path);
      assert.equal(res.status, 200, p.path);
      const policy = res.headers.get('content-security-policy');
      assert.ok(policy, `${p.path}: Content-Security-Policy present`);
      const d = directives(policy);
      assert.deepEqual(d.get('default-src'), ["'self'"], `${p.path}: ${policy}`);
      assert.deepEqual(d.get('script-src'), ["'self'"], `${p.path}: ${policy}`);
      assert.deepEqual(d.get('style-src'), ["'self'"], `${p.path}: ${policy}`);
      assert.deepEqual(d.get('object-src'), ["'none'"], `${p.path}: ${policy}`);
      assert.ok(d.has('frame-ancestors'), `${p.path}: frame-ancestors in ${policy}`);
      assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/, p.path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', p.path);
      assert.ok(res.headers.get('referrer-policy'), `${p.path}: Referrer-Policy`);
      // No inline script or style left in the page itself.
      const html = await res.text();
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, `${p.path}: inline <script>`);
      assert.doesNotMatch(html, /<style[\s>]|\sstyle=|\son[a-z]+=/i, `${p.path}: inline style or handler`);
    }
    // Watch and embed follow the event's embed setting (any site here); moderator pages
    // are never framed.
    const fa = async (path) => directives((await fetch(amphi.http + path)).headers.get('content-security-policy')).get('frame-ancestors');
    assert.deepEqual(await fa(`/watch/${EVENT}`), ['*']);
    assert.deepEqual(await fa(`/embed/${EVENT}`), ['*']);
    assert.deepEqual(await fa(`/moderate/${EVENT}`), ["'none'"]);

    // 2. nosniff on everything else too: JSON API, playlists, media, assets, errors.
    const playlist = (await get(master)).text.split('\n').find((l) => l && !l.startsWith('#'));
    for (const path of [
      '/api/events',
      `/api/qa/${EVENT}/questions`,
      `/live/${EVENT}/master.m3u8`,
      `/live/${EVENT}/${playlist}`,
      `/live/${EVENT}/${playlist.replace('index.m3u8', 'init.mp4')}`,
      '/assets/style.css',
      '/healthz',
      '/no/such/path',
    ]) {
      const res = await fetch(amphi.http + path);
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path} (${res.status})`);
      assert.ok(res.headers.get('referrer-policy'), `${path}: Referrer-Policy`);
    }

    // 3. Each page in Chromium: no violation, no error; /watch and /embed play.
    browser = await launchBrowser({ args: FAKE_MEDIA_ARGS });
    await browser.context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
      });
    });
    const { page } = browser;
    for (const p of pages(token)) {
      const before = browser.logs.length;
      await page.goto(amphi.http + p.path + (p.hash || ''));
      await page.waitForLoadState('load');
      if (p.plays) {
        await waitForPlaying(page, 30000, `${p.name} to play under its CSP`);
      } else {
        await sleep(2000);
      }
      const violations = await page.evaluate(() => window.__cspViolations);
      const consoleCsp = browser.logs.slice(before).filter((l) => /Content Security Policy|Refused to/i.test(l));
      console.log(`${p.name}: ${violations.length} CSP violations, ${consoleCsp.length} console reports`);
      assert.deepEqual(violations, [], `${p.name}: securitypolicyviolation events`);
      assert.deepEqual(consoleCsp, [], `${p.name}: CSP reports in the console`);
    }
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on any page');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
