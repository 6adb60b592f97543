// Chapters in program time: the moderator adds "Part 2 — Entropy" from the moderation
// page during a live lecture; two viewers with different latencies (the second has gone
// back 10 s on the seek bar) get it from the playlists' EXT-X-DATERANGE and show it on
// their seek bars and chapter lists at the same program time, the one the moderator
// marked. The live media playlist carries the date range with that START-DATE.
// Then viewer B asks a question: it carries the program time B was watching (behind A's),
// and once the moderator marks it answered, it becomes a marker on both viewers too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

const EVENT = 'lecture';
const TITLE = 'Part 2 — Entropy';

const chapterOf = (page) =>
  page.evaluate(() => {
    const c = window.amphiChapters;
    return c ? c.list().find((m) => m.id === 'chapter-1') || null : null;
  });

const seekMarkerTitles = (page) =>
  page.$$eval('#seek-markers .seek-marker', (els) => els.map((e) => e.title));

test('a chapter added by the moderator shows on two viewers at the same program time', { timeout: 240000 }, async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi();
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: '640x360', bitrate: 600 });
    const master = `${amphi.http}/live/${EVENT}/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { intervalMs: 500, what: `${master} to exist` });
    const token = await amphi.moderatorToken(EVENT);

    browser = await launchBrowser({ viewport: { width: 960, height: 720 } });
    const a = browser.page;
    await a.goto(`${amphi.http}/watch/${EVENT}`);
    await waitForPlaying(a, 30000, 'viewer A to play');
    // Viewer B joins 3 s later and goes back 10 s on the seek bar: a different latency.
    await sleep(3000);
    const b = await browser.context.newPage();
    await b.goto(`${amphi.http}/watch/${EVENT}`);
    await waitForPlaying(b, 30000, 'viewer B to play');
    await waitFor(async () => !(await b.$eval('#seek', (el) => el.disabled)), 20000, { what: 'B’s seek bar' });
    await b.focus('#seek');
    await b.keyboard.press('ArrowLeft');
    const behind = await waitFor(
      async () => {
        const [sa, sb] = [await playerStats(a), await playerStats(b)];
        const gap = sa && sb && sa.playingDate && sb.playingDate ? sa.playingDate - sb.playingDate : 0;
        return gap > 5000 ? gap : null;
      },
      20000,
      { what: 'viewer B to play more than 5 s behind viewer A' },
    );

    // The moderator marks the current moment of the live.
    const mod = await browser.context.newPage();
    await mod.goto(`${amphi.http}/moderate/${EVENT}#token=${encodeURIComponent(token)}`);
    await mod.waitForSelector('#mod-chapters:not([hidden])');
    assert.equal(await mod.$eval('#mod-chapter-text', (el) => el.labels[0].textContent), 'Chapter title');
    await mod.fill('#mod-chapter-text', TITLE);
    const addedAt = Date.now();
    await mod.click('#mod-chapter-add');
    await waitFor(
      async () => /Chapter added/.test(await mod.$eval('#mod-chapter-status', (el) => el.textContent)),
      10000,
      { what: 'the moderation page to confirm the chapter' },
    );
    await mod.waitForSelector('#mod-chapter-list li[data-id="chapter-1"]');

    const api = await get(`${amphi.http}/api/events/${EVENT}/chapters`);
    assert.equal(api.status, 200);
    const listed = JSON.parse(api.text).chapters;
    assert.equal(listed.length, 1);
    const programTime = listed[0].program_time;
    assert.equal(listed[0].text, TITLE);
    // The moderator's "now" is the live edge: within a few seconds of the wall clock.
    assert.ok(Math.abs(addedAt - programTime) < 5000, `program time ${programTime} vs wall clock ${addedAt}`);

    // Both viewers get it from their playlists, at the same program time.
    const seen = {};
    for (const [name, page] of [['A', a], ['B', b]]) {
      const m = await waitFor(async () => {
        const c = await chapterOf(page);
        return c && c.via === 'playlist' ? c : null;
      }, 20000, { what: `viewer ${name} to read the chapter from the playlist` });
      seen[name] = { at: Date.now() - addedAt, time: m.time, label: m.label };
      assert.equal(m.time, programTime, `viewer ${name}: the marker is at the moderator's program time`);
      assert.equal(m.label, TITLE);
      await waitFor(async () => (await seekMarkerTitles(page)).includes(TITLE), 10000, {
        what: `viewer ${name}'s seek bar to show the marker`,
      });
      const item = await page.$eval('#chapters-list li[data-id="chapter-1"] .chapter-text', (el) => el.textContent);
      assert.equal(item, TITLE);
    }
    assert.equal(seen.A.time, seen.B.time);

    // The live media playlist carries it as a date range on the program-date-time clock.
    const variant = (await get(master)).text.split('\n').find((l) => l && !l.startsWith('#'));
    const media = (await get(`${amphi.http}/live/${EVENT}/${variant}`)).text;
    const tag = media.split('\n').find((l) => l.startsWith('#EXT-X-DATERANGE:'));
    assert.ok(tag, `a date range in ${variant}:\n${media}`);
    assert.match(tag, /ID="chapter-1"/);
    assert.match(tag, /X-AMPHI-KIND="chapter"/);
    assert.ok(tag.includes(`X-AMPHI-TEXT="${TITLE}"`), tag);
    const start = /START-DATE="([^"]+)"/.exec(tag);
    assert.equal(Date.parse(start[1]), programTime);
    // Viewer B asks: the question carries the program time on B's screen.
    const beforeAsk = (await playerStats(b)).playingDate;
    await b.fill('#qa-text', 'Why does entropy grow?');
    await b.click('.qa-submit');
    await waitFor(async () => /sent/i.test((await b.textContent('#qa-form-status')) || ''), 10000, {
      what: 'B’s question to be sent',
    });
    const afterAsk = (await playerStats(b)).playingDate;
    const asked = await waitFor(async () => {
      const r = await get(`${amphi.http}/api/qa/${EVENT}/export.json?token=${encodeURIComponent(token)}`);
      const qs = r.status === 200 ? JSON.parse(r.text) : [];
      return qs.find((q) => q.text === 'Why does entropy grow?') || null;
    }, 10000, { what: 'the question in the export' });
    assert.ok(
      asked.program_time >= beforeAsk - 1000 && asked.program_time <= afterAsk + 1000,
      `question stamped ${asked.program_time}, B was at ${beforeAsk}..${afterAsk}`,
    );
    const aNow = (await playerStats(a)).playingDate;
    assert.ok(aNow - asked.program_time > 5000, 'stamped with B’s program time, not A’s nor the live edge');

    // The moderator marks it answered: a marker at that moment of the live.
    await mod.click('#tab-approved');
    const answer = mod.locator(`#mod-list li[data-id="${asked.id}"] button[data-action="answer"]`);
    await answer.waitFor({ state: 'visible', timeout: 10000 });
    await answer.click();
    await mod.waitForSelector(`#mod-chapter-list li[data-id="question-${asked.id}"]`);
    for (const [name, page] of [['A', a], ['B', b]]) {
      const m = await waitFor(
        () =>
          page.evaluate((id) => {
            const c = window.amphiChapters;
            const found = c && c.list().find((x) => x.id === id && x.via === 'playlist');
            return found || null;
          }, `question-${asked.id}`),
        20000,
        { what: `viewer ${name} to read the answered question's marker from the playlist` },
      );
      assert.equal(m.kind, 'question');
      assert.equal(m.label, 'Why does entropy grow?');
      await waitFor(async () => (await seekMarkerTitles(page)).includes('Answered: Why does entropy grow?'), 10000, {
        what: `viewer ${name}'s seek bar to show the answered question`,
      });
    }

    assert.deepEqual(browser.errors, []);
    console.log(
      `chapter: viewer B ${(behind / 1000).toFixed(1)} s behind A; marker read from the playlist ` +
        `${seen.A.at} ms (A) and ${seen.B.at} ms (B) after the moderator's click`,
    );
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
