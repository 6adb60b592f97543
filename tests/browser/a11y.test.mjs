// Accessibility: axe-core (WCAG 2.0/2.1 A and AA rules) finds no violation on any page.
// One amphi, one 320x180 publisher, one browser; every page is visited in turn in the
// states a student, a moderator, a captioner and an operator meet: the status page, the
// waiting room, the live watch page (with a question in the panel), the embed (with the
// panel), moderation, the captioner, the console (login and events), and the replay once
// the live has ended. Every violation is printed with its target selectors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { axeViolations, formatViolations } from './axe.mjs';
import {
  addConsoleUser, apiRequest, cleanup, dumpDiagnostics, get, launchBrowser, startAmphi, startPublisher, waitFor,
  waitForPlaying,
} from './harness.mjs';

const EVENT = 'lecture';
const LATER = 'later';
const PASSWORD = 'a long console password';

// Presses Tab up to `max` times from the page's first link; returns each focused element
// (`#id` or tag.class) and whether it shows a focus indicator (an outline or a shadow).
async function tabThrough(page, max) {
  await page.locator('a').first().focus();
  const stops = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const cs = getComputedStyle(e);
      const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0;
      return {
        what: e.id ? `#${e.id}` : `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`,
        visible: outline || cs.boxShadow !== 'none',
      };
    });
    if (!stop || stops.some((s) => s.what === stop.what)) break;
    stops.push(stop);
  }
  return stops;
}

// A Q&A API request that must succeed; resolves to its JSON answer.
async function qaApi(base, method, path, bearer, body) {
  const r = await apiRequest(method, `${base}/api/qa/${EVENT}${path}`, { bearer, body, timeoutMs: 10000 });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status}`);
  return r.data;
}

test('axe-core finds no WCAG 2.1 A/AA violation on any page', { timeout: 90000 }, async () => {
  let amphi, publisher, browser;
  const t0 = Date.now();
  const report = [];
  const failures = [];
  const check = async (page, where) => {
    const started = Date.now();
    const violations = await axeViolations(page);
    const line = formatViolations(where, violations);
    report.push(`${line} (${Date.now() - started} ms)`);
    if (violations.length) failures.push(line);
  };
  try {
    amphi = await startAmphi({ events: [`${EVENT}:secretkey`, `${LATER}:laterkey`], extraArgs: ['--end-after', '2'] });
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: '320x180' });
    const token = await amphi.moderatorToken(EVENT);
    const users = addConsoleUser(amphi.dataDir, 'ada', 'admin', PASSWORD);
    browser = await launchBrowser();
    const { page } = browser;

    // The waiting room: an event that has not started.
    await page.goto(`${amphi.http}/watch/${LATER}`);
    await waitFor(async () => (await page.locator('body[data-state="waiting"]').count()) === 1, 10000, { what: 'the waiting room' });
    await check(page, 'waiting room');

    // The live watch page, playing, with a question in the panel.
    await page.goto(`${amphi.http}/watch/${EVENT}`);
    await waitForPlaying(page, 30000, 'the live watch page to play');
    await page.getByLabel('Ask a question').fill('Is the test pattern accessible?');
    await page.getByRole('button', { name: 'Ask' }).click();
    await waitFor(async () => (await page.locator('#qa li').count()) > 0, 10000, { what: 'the question in the panel' });
    // Another viewer's question is announced by the panel's live region.
    const other = await qaApi(amphi.http, 'POST', '/viewer');
    const asked = await qaApi(amphi.http, 'POST', '/questions', other.viewer, { text: 'What about entropy?' });
    assert.ok(asked, 'a second viewer asked');
    await waitFor(
      async () => (await page.locator('#qa-announce').textContent()) === 'New question: What about entropy?',
      10000,
      { what: 'the new question announced' },
    );
    await check(page, 'watch (live)');
    // Every control is reached with Tab and shows where the focus is.
    const stops = await tabThrough(page, 30);
    const unseen = stops.filter((s) => !s.visible).map((s) => s.what);
    report.push(`watch (live): ${stops.length} Tab stops (${stops.map((s) => s.what).join(', ')})`);
    assert.deepEqual(unseen, [], 'every Tab stop shows a focus indicator');
    for (const id of ['seek', 'play', 'mute', 'golive', 'fullscreen', 'qa-text']) {
      assert.ok(stops.some((s) => s.what === `#${id}`), `#${id} is reached with Tab`);
    }

    await page.goto(`${amphi.http}/embed/${EVENT}?qa=1`);
    await waitForPlaying(page, 20000, 'the embed to play');
    // While playing, the controls show when the player has the focus (or the pointer).
    await page.locator('#play').focus();
    await waitFor(
      () => page.evaluate(() => getComputedStyle(document.querySelector('.controls')).opacity === '1'),
      5000,
      { intervalMs: 50, what: 'the embed controls shown' },
    );
    await check(page, 'embed');

    await page.goto(`${amphi.http}/moderate/${EVENT}#token=${token}`);
    // The question waits in whichever tab its status puts it; that tab is shown.
    const tab = await waitFor(
      () => page.evaluate(() => [...document.querySelectorAll('#mod-tabs .tab')].find((b) => Number(b.querySelector('.tab-count')?.textContent) > 0)?.id),
      10000,
      { what: 'the question to moderate' },
    );
    await page.locator(`#${tab}`).click();
    await page.locator('#mod-list .mod-item').first().waitFor();
    await check(page, 'moderation');

    await page.goto(`${amphi.http}/caption/${EVENT}#token=${token}`);
    await page.locator('#cap-line').waitFor({ state: 'visible' });
    await page.locator('#cap-line').fill('Hello everyone');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await page.locator('#cap-sent li').count()) > 0, 10000, { what: 'the caption line sent' });
    await check(page, 'captioner');

    await page.goto(`${amphi.http}/`);
    await waitFor(async () => (await page.locator('#events li').count()) === 2, 10000, { what: 'the events listed' });
    await check(page, 'status');

    await users;
    await page.goto(`${amphi.http}/admin`);
    await page.locator('#login-section').waitFor({ state: 'visible' });
    await check(page, 'console (login)');
    await page.getByLabel('User name').fill('ada');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#events-section').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'New event' }).click();
    await page.locator('#form-section').waitFor({ state: 'visible' });
    await check(page, 'console (new event form)');
    await page.getByLabel('Id (a-z, 0-9, - and _)').fill('physics');
    await page.getByLabel('Title').fill('Physics 101');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#events-body tr[data-id="physics"]').waitFor();
    await check(page, 'console (events)');
    await page.getByRole('button', { name: 'Open Physics 101' }).click();
    await page.locator('#detail-section').waitFor({ state: 'visible' });
    await check(page, 'console (event detail)');

    // The lecturer stops; the live ends two seconds later and the watch page replays.
    const master = `${amphi.http}/live/${EVENT}/master.m3u8`;
    const variant = (await get(master)).text.split('\n').find((l) => l && !l.startsWith('#')).trim();
    const media = new URL(variant, master).href;
    await publisher.kill('SIGINT');
    await waitFor(async () => /#EXT-X-ENDLIST/.test((await get(media)).text || ''), 15000, {
      intervalMs: 250,
      what: 'the live to end',
    });
    await page.goto(`${amphi.http}/watch/${EVENT}`);
    await page.locator('#replay').waitFor({ state: 'visible', timeout: 15000 });
    await waitForPlaying(page, 15000, 'the replay to play');
    await check(page, 'watch (replay)');

    console.log(report.join('\n'));
    console.log(`a11y: ${report.length} pages checked in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(failures, [], `axe-core violations:\n${failures.join('\n')}`);
    assert.deepEqual(browser.errors, [], 'no JavaScript errors');
  } catch (e) {
    console.log(report.join('\n'));
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
