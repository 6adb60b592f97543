// The replay: a lecture of ~12 s is published, a viewer asks a question at a moment of it
// and the moderator answers it on the moderation page, typing an answer (with markup, to
// be shown as text); after the live has ended, /watch/{event} plays the whole lecture
// from its start, shows the download link of the MP4 (which the origin serves), and
// lists the answered question with its answer at the moment it was asked; a click seeks
// there. A chapter the moderator marked and a caption line sent during the live are
// on the replay too: in its chapter list and on its captions track.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiRequest, cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher, waitFor,
} from './harness.mjs';

const EVENT = 'lecture';
const ANSWER = 'Because <b>log</b> turns products into sums & more.';
const CHAPTER = 'Part 2 — Entropy';
const CAPTION = 'Entropy adds up over independent systems.';

// A moderator's POST to an event API (chapters, captions).
const moderatorPost = (base, path, token, body) => apiRequest('POST', `${base}/api/events/${EVENT}${path}`, { bearer: token, body });

// A Q&A API request as `bearer` (a viewer id).
const api = (base, method, path, bearer, body) => apiRequest(method, `${base}/api/qa/${EVENT}${path}`, { bearer, body });

function firstPdt(playlist) {
  const m = /#EXT-X-PROGRAM-DATE-TIME:(\S+)/.exec(playlist);
  return m ? Date.parse(m[1]) : null;
}

test('after the live, the watch page replays the lecture with its download and its questions', async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi({ extraArgs: ['--end-after', '2'] });
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: '320x180' });
    const master = `${amphi.http}/live/${EVENT}/master.m3u8`;
    const masterText = await waitFor(async () => {
      const r = await get(master);
      return r.status === 200 && r.text;
    }, 30000, { intervalMs: 500, what: 'the multivariant playlist' });
    const variant = masterText.split('\n').find((l) => l && !l.startsWith('#')).trim();
    const media = new URL(variant, master).href;
    // Two segments in: the lecture's first program time is known.
    const start = await waitFor(async () => {
      const r = await get(media);
      return r.status === 200 && (r.text.match(/#EXTINF/g) || []).length >= 2 && firstPdt(r.text);
    }, 30000, { intervalMs: 500, what: 'two segments' });

    // During the live: a chapter 5 s into the lecture, and a caption line from now on.
    const token = await amphi.moderatorToken(EVENT);
    const chapter = await moderatorPost(amphi.http, '/chapters', token, { text: CHAPTER, program_time: start + 5000 });
    assert.ok(chapter.status === 200 || chapter.status === 201, `chapter added: ${chapter.status} ${chapter.text}`);
    const cueAt = Date.now() + 500;
    const caption = await moderatorPost(amphi.http, '/captions', token, {
      cues: [{ id: 'r-1', start: cueAt, end: cueAt + 2500, text: CAPTION }],
    });
    assert.equal(caption.status, 200, `caption taken: ${caption.text}`);

    // A question asked 3 s into the lecture, answered by the moderator.
    const viewer = await api(amphi.http, 'POST', '/viewer');
    assert.equal(viewer.status, 200);
    const text = 'Why is entropy additive?';
    const asked = await api(amphi.http, 'POST', '/questions', viewer.data.viewer, { text, program_time: start + 3000 });
    assert.ok(asked.status === 200 || asked.status === 201, `question posted: ${asked.status}`);
    const id = asked.data.id ?? asked.data.question?.id;
    browser = await launchBrowser();
    const mod = await browser.context.newPage();
    await mod.goto(`${amphi.http}/moderate/${EVENT}#token=${encodeURIComponent(token)}`);
    await mod.click('#tab-approved');
    const item = mod.locator(`#mod-list li[data-id="${id}"]`);
    await item.locator('textarea.mod-answer').fill(ANSWER);
    await item.locator('button[data-action="answer"]').click();
    const stored = await waitFor(async () => {
      const r = await api(amphi.http, 'GET', '/questions');
      const q = (r.data.questions || []).find((x) => x.id === id);
      return q && q.status === 'answered' && q;
    }, 10000, { what: 'the question to be answered' });
    assert.equal(stored.answer, ANSWER);
    await mod.close();

    // The lecture lasts ~12 s, then the lecturer stops and the live ends.
    await sleep(Math.max(0, 12000 - (Date.now() - publisher.startedAt)));
    await publisher.kill('SIGINT');
    await waitFor(async () => /#EXT-X-ENDLIST/.test((await get(media)).text || ''), 20000, { what: 'the live to end' });

    const { page } = browser;
    await page.goto(`${amphi.http}/watch/${EVENT}`);
    // It plays from the start of the lecture.
    const first = await waitFor(async () => {
      const s = await playerStats(page);
      return s && !s.paused && s.currentTime > 0.2 && s;
    }, 25000, { what: 'the replay to play' });
    assert.ok(first.currentTime < 4, `the replay starts at the beginning (at ${first.currentTime.toFixed(2)} s)`);

    // The download link, served by the origin as an MP4.
    const href = await page.locator('#download').getAttribute('href', { timeout: 10000 });
    assert.match(href, /\/live\/lecture\/recording\.mp4$/);
    const head = await fetch(href, { signal: AbortSignal.timeout(15000) });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'video/mp4');
    const bytes = Buffer.from(await head.arrayBuffer());
    assert.ok(bytes.length > 10000, `an MP4 of ${bytes.length} bytes`);

    // The answered question, at the moment it was asked.
    const row = page.locator('#replay li.answered', { hasText: text });
    await row.waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await row.textContent(), /Answered/);
    // The answer, as text (the markup shown, not interpreted).
    assert.equal(await row.locator('.answer').textContent(), ANSWER);
    assert.equal(await row.locator('.answer b').count(), 0);
    const position = Number(await row.getAttribute('data-position'));
    assert.ok(Math.abs(position - 3) < 0.5, `the question sits at ${position} s of the replay`);
    await row.locator('button').click();
    const after = await waitFor(async () => {
      const s = await playerStats(page);
      return s && Math.abs(s.currentTime - position) < 1.5 && s;
    }, 5000, { what: 'the seek to the question' });

    // The chapter in the replay's chapter list, and the caption line on its captions track.
    const chapterRow = page.locator('#chapters-list li', { hasText: CHAPTER });
    await chapterRow.waitFor({ state: 'visible', timeout: 10000 });
    await page.waitForSelector('#cc:not([hidden])', { timeout: 10000 });
    await page.click('#cc');
    const cue = await waitFor(
      () =>
        page.evaluate((text) => {
          for (const t of Array.from(document.getElementById('video').textTracks)) {
            const c = Array.from(t.cues || []).find((x) => x.text === text);
            if (c && t.mode === 'showing') return { start: c.startTime, label: t.label };
          }
          return null;
        }, CAPTION),
      15000,
      { what: 'the caption line on the replay captions track' },
    );
    const expected = (cueAt - start) / 1000;
    assert.ok(Math.abs(cue.start - expected) < 1.5, `the caption sits at ${cue.start.toFixed(2)} s of the replay, sent for ${expected.toFixed(2)} s`);
    console.log(`replay: chapter listed, caption at ${cue.start.toFixed(2)} s (sent for ${expected.toFixed(2)} s) on "${cue.label}"`);
    console.log(`replay: started at ${first.currentTime.toFixed(2)} s, question at ${position.toFixed(2)} s, seeked to ${after.currentTime.toFixed(2)} s, MP4 ${bytes.length} bytes`);
    assert.deepEqual(browser.errors, []);
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
