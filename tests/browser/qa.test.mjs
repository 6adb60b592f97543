// Q&A end to end, with no video: two viewer pages (separate browsers, so separate viewer
// ids, minted and signed by the server) and a moderator page. A question asked on viewer 1
// reaches the moderator; approving it shows it on viewer 2 within 1 s; a viewer's vote
// counts once; HTML in a question is shown as text and never runs; a burst of 1,000 posts
// from one viewer is rate limited while another viewer still gets a prompt answer; a
// banned viewer gets 403; a made-up viewer id gets 401.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiRequest, cleanup, dumpDiagnostics, launchBrowser, sleep, startAmphi, waitFor } from './harness.mjs';

const EVENT = 'lecture';
const XSS = '<img src=x onerror="window.__xss=1">';
const XSS_ANSWER = 'Answered: <img src=x onerror="window.__xss=2"> & <b>no</b> markup';

// A Q&A API request. `viewer`: a signed viewer id; `token`: the moderator token. Both go
// as bearer values (the token when both are given).
const api = (base, method, path, { viewer, token, body, headers } = {}) =>
  apiRequest(method, `${base}/api/qa/${EVENT}${path}`, { bearer: token || viewer, body, headers });

// A fresh viewer id from the server: { viewer (signed), id }.
async function mint(base) {
  const r = await api(base, 'POST', '/viewer');
  assert.equal(r.status, 200, `minting a viewer id answered ${r.status}`);
  return r.data;
}

// The moderator page's copy of a question, by its text.
function modQuestion(page, text) {
  return page.evaluate((t) => {
    const m = window.amphiModerator;
    const s = m && m.store;
    if (!s) return null;
    for (const q of s.questions.values()) if (q.text === t) return { id: String(q.id), status: q.status, votes: q.votes, viewer: q.viewer };
    return null;
  }, text);
}

// Shows the question's tab on the moderator page and waits for its row.
async function modRow(page, id, status) {
  await page.click(`#tab-${status}`);
  const row = page.locator(`#mod-list li[data-id="${id}"]`);
  await row.waitFor({ state: 'visible', timeout: 5000 });
  return row;
}

async function askInUi(page, text) {
  await page.fill('#qa-text', text);
  await page.click('.qa-submit');
}

test('Q&A: ask, moderate, live updates, votes, escaping, rate limits, bans', { timeout: 120000 }, async () => {
  let amphi, b1, b2;
  try {
    amphi = await startAmphi({ events: [`${EVENT}:secretkey`] });
    const token = await amphi.moderatorToken(EVENT);
    assert.ok(token, 'amphi printed a moderator token');

    b1 = await launchBrowser();
    b2 = await launchBrowser();
    const viewer1 = b1.page;
    const viewer2 = b2.page;
    const mod = await b1.context.newPage();
    mod.setDefaultTimeout(15000);

    await Promise.all([viewer1.goto(`${amphi.http}/watch/${EVENT}`), viewer2.goto(`${amphi.http}/watch/${EVENT}`)]);
    await mod.goto(`${amphi.http}/moderate/${EVENT}#token=${encodeURIComponent(token)}`);
    // The token leaves the address bar (it is kept in sessionStorage).
    assert.ok(!mod.url().includes(token), 'the token is removed from the URL');

    // Every panel has its live stream open before we measure anything.
    for (const [page, what] of [[viewer1, 'viewer 1'], [viewer2, 'viewer 2']]) {
      await waitFor(() => page.evaluate(() => document.getElementById('qa').classList.contains('is-live')), 10000, {
        what: `${what}'s Q&A stream to connect`,
      });
    }
    await waitFor(() => mod.evaluate(() => document.getElementById('mod-live').classList.contains('on')), 10000, {
      what: 'the moderator stream to connect',
    });

    // ---- a question from viewer 1 reaches the moderator
    const text = `Why is the sky blue? ${Date.now()}`;
    await askInUi(viewer1, text);
    await waitFor(async () => /sent/i.test((await viewer1.textContent('#qa-form-status')) || ''), 5000, {
      what: 'viewer 1 to see its question sent',
    });
    const q = await waitFor(() => modQuestion(mod, text), 5000, { what: 'the question on the moderator page' });
    const v1 = await viewer1.evaluate(() => window.amphiQa.identity.id);
    assert.match(v1, /^[A-Za-z0-9_-]{22}$/, 'the server minted a 22-character viewer id');
    assert.equal(q.viewer, v1, 'the moderator sees the asker');
    await modRow(mod, q.id, q.status);
    console.log(`question ${q.id} arrived at the moderator as ${q.status}`);

    // ---- approval shows it on viewer 2 within 1 s
    const v2Item = viewer2.locator(`#qa-list li[data-id="${q.id}"]`);
    if (q.status !== 'pending') {
      // Not premoderated: hide it first, so there is an approval to measure.
      const row = await modRow(mod, q.id, q.status);
      await row.locator('button[data-action="hide"]').click();
      await v2Item.waitFor({ state: 'detached', timeout: 5000 });
      await modRow(mod, q.id, 'hidden');
    } else {
      await sleep(500);
      assert.equal(await v2Item.count(), 0, 'a pending question is not shown to viewers');
    }
    const approve = mod.locator(`#mod-list li[data-id="${q.id}"] button[data-action="approve"]`);
    const t0 = Date.now();
    await approve.click();
    await v2Item.waitFor({ state: 'visible', timeout: 5000 });
    const approvalMs = Date.now() - t0;
    console.log(`approval → visible on viewer 2: ${approvalMs} ms`);
    assert.ok(approvalMs < 1000, `approved question shown on viewer 2 after ${approvalMs} ms (limit 1000)`);
    assert.equal(await v2Item.locator('.qa-text').textContent(), text);

    // ---- votes count once per viewer
    const voteBtn = v2Item.locator('button.qa-vote');
    await voteBtn.click();
    await waitFor(async () => (await voteBtn.isDisabled()) && (await v2Item.locator('.qa-votes').textContent()) === '1', 5000, {
      what: "viewer 2's vote to count",
    });
    const v1Votes = viewer1.locator(`#qa-list li[data-id="${q.id}"] .qa-votes`);
    await waitFor(async () => (await v1Votes.textContent()) === '1', 5000, { what: 'the vote to reach viewer 1 live' });
    const v2 = await viewer2.evaluate(() => ({ id: window.amphiQa.identity.id, viewer: window.amphiQa.identity.current.viewer }));
    assert.notEqual(v2.id, v1, 'the two browsers are two viewers');
    const again = await api(amphi.http, 'POST', `/questions/${q.id}/vote`, { viewer: v2.viewer });
    assert.equal(again.status, 200, `second vote answered ${again.status}`);
    assert.equal(again.data.votes, 1, 'a second vote from the same viewer does not count');
    const fresh = await mint(amphi.http);
    const a = await api(amphi.http, 'POST', `/questions/${q.id}/vote`, { viewer: fresh.viewer });
    const b = await api(amphi.http, 'POST', `/questions/${q.id}/vote`, { viewer: fresh.viewer });
    assert.deepEqual([a.data.votes, b.data.votes], [2, 2], 'another viewer: one more vote, once');
    // A viewer id the client makes up (the old X-Amphi-Viewer header, or a bearer value the
    // server did not sign) counts for nothing.
    for (const made of ['made-up-viewer-0001', 'made-up-viewer-0002']) {
      const h = await api(amphi.http, 'POST', `/questions/${q.id}/vote`, { headers: { 'X-Amphi-Viewer': made } });
      const t = await api(amphi.http, 'POST', `/questions/${q.id}/vote`, { viewer: made });
      assert.deepEqual([h.status, t.status], [401, 401], 'unsigned viewer ids are refused');
    }
    await waitFor(async () => (await v1Votes.textContent()) === '2', 5000, { what: 'the vote count to update live' });

    // ---- HTML is shown as text and never runs
    await askInUi(viewer1, XSS);
    const x = await waitFor(() => modQuestion(mod, XSS), 5000, { what: 'the XSS question on the moderator page' });
    const xRow = await modRow(mod, x.id, x.status);
    if (x.status === 'pending') await xRow.locator('button[data-action="approve"]').click();
    const xItem = viewer2.locator(`#qa-list li[data-id="${x.id}"]`);
    await xItem.waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await xItem.locator('.qa-text').textContent(), XSS, 'the payload is literal text');
    // The moderator's answer, typed on the moderation page, is text too, under the question.
    const xApproved = await modRow(mod, x.id, 'approved');
    await xApproved.locator('textarea.mod-answer').fill(XSS_ANSWER);
    await xApproved.locator('button[data-action="answer"]').click();
    const xAnswer = xItem.locator('.qa-answer');
    await waitFor(async () => (await xAnswer.isVisible()) && (await xAnswer.textContent()) === XSS_ANSWER, 5000, {
      what: 'the answer under the question on viewer 2',
    });
    await sleep(300);
    for (const [page, what] of [[viewer1, 'viewer 1'], [viewer2, 'viewer 2'], [mod, 'moderator']]) {
      assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined', `no script ran on ${what}'s page`);
      assert.equal(await page.locator('#qa-list img, #mod-list img').count(), 0, `no <img> injected on ${what}'s page`);
    }

    // ---- a burst from one viewer is rate limited; another viewer still gets through fast
    const spammer = await mint(amphi.http);
    let answered = 0;
    let answeredAtAsk = null;
    const burst = Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        api(amphi.http, 'POST', '/questions', { viewer: spammer.viewer, body: { text: `spam ${i}` } })
          .catch((e) => ({ status: 0, error: e }))
          .finally(() => answered++),
      ),
    );
    // Viewer 2 asks from its own browser (another process than the burst's), timed there,
    // while the burst is in flight.
    const other = await viewer2.evaluate(async (viewer) => {
      const t = performance.now();
      const res = await fetch('/api/qa/lecture/questions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${viewer}` },
        body: JSON.stringify({ text: 'A real question during the spam' }),
      });
      return { status: res.status, ms: Math.round(performance.now() - t) };
    }, v2.viewer);
    answeredAtAsk = answered;
    const askMs = other.ms;
    const results = await burst;
    const counts = {};
    for (const r of results) counts[r.status] = (counts[r.status] || 0) + 1;
    console.log(`burst of 1000 posts: ${JSON.stringify(counts)}; another viewer's post (${answeredAtAsk} of the burst answered by then): ${other.status} in ${askMs} ms`);
    assert.equal(other.status, 201, `another viewer's post during the burst answered ${other.status}`);
    assert.ok(askMs < 1000, `another viewer's post took ${askMs} ms (limit 1000)`);
    // Refused by the Q&A rate limit (429), or before that by the origin's per-client
    // connection budget (503, or the connection closed: status 0): never accepted.
    assert.equal(counts[201] || 0, 5, `exactly the per-minute allowance of the burst was accepted (${JSON.stringify(counts)})`);
    const refused = (counts[429] || 0) + (counts[503] || 0) + (counts[0] || 0);
    assert.equal(refused, 995, `the rest of the burst was refused (${JSON.stringify(counts)})`);
    assert.ok((counts[429] || 0) >= 100, `the rate limit answered many of the burst (${JSON.stringify(counts)})`);
    const limited = results.find((r) => r.status === 429);
    assert.ok(limited.retryAfter && Number(limited.retryAfter) >= 0, '429 carries Retry-After');

    // ---- the viewer panel says so when it is rate limited
    let shown = '';
    for (let i = 0; i < 12 && !/too fast/i.test(shown); i++) {
      await askInUi(viewer1, `follow-up ${i} ${Date.now()}`);
      shown = await waitFor(
        async () => {
          const s = viewer1.locator('#qa-form-status');
          return (await s.isVisible()) && (await viewer1.evaluate(() => document.getElementById('qa-form').dataset.busy !== '1')) ? s.textContent() : '';
        },
        5000,
        { what: 'the answer to a post', intervalMs: 100 },
      );
    }
    assert.match(shown, /too fast/i, 'the panel tells a rate-limited viewer to wait');
    assert.ok(await viewer1.locator('.qa-submit').isDisabled(), 'the Ask button waits out Retry-After');

    // ---- a banned viewer gets 403
    const spamQ = await waitFor(
      () =>
        mod.evaluate((viewer) => {
          const s = window.amphiModerator.store;
          for (const q of s ? s.questions.values() : []) if (q.viewer === viewer) return { id: String(q.id), status: q.status };
          return null;
        }, spammer.id),
      5000,
      { what: "one of the spammer's questions on the moderator page" },
    ).catch(() => null);
    if (spamQ) {
      const row = await modRow(mod, spamQ.id, spamQ.status);
      const banBtn = row.locator('button[data-action="ban"]');
      await banBtn.click(); // arms
      await banBtn.click(); // confirms
      const seen = [];
      await waitFor(
        async () => {
          const said = (await mod.textContent('#mod-status')) || '';
          if (seen[seen.length - 1] !== said) seen.push(said);
          return /banned/i.test(said);
        },
        5000,
        { what: 'the ban to be confirmed' },
      ).catch((e) => {
        throw new Error(`${e.message}; the moderator page said: ${JSON.stringify(seen)}`);
      });
      // The list is read again after a ban: that read must succeed and leave the message.
      await sleep(1000);
      assert.match((await mod.textContent('#mod-status')) || '', /banned/i, 'the moderator page re-read the list without an error');
    } else {
      const r = await api(amphi.http, 'POST', '/bans', { token, body: { viewer: spammer.id } });
      assert.ok(r.status < 300, `ban answered ${r.status}`);
    }
    const banned = await api(amphi.http, 'POST', '/questions', { viewer: spammer.viewer, body: { text: 'let me in' } });
    assert.equal(banned.status, 403, `a banned viewer's post answered ${banned.status}`);
    const renewed = await api(amphi.http, 'POST', '/viewer', { body: { viewer: spammer.viewer } });
    assert.equal(renewed.status, 403, 'a banned viewer id is not renewed');

    // ---- moderator API refuses a wrong token
    const wrong = await api(amphi.http, 'POST', `/questions/${q.id}/hide`, { token: 'not-the-token' });
    assert.equal(wrong.status, 401);

    for (const b of [b1, b2]) assert.deepEqual(b.errors, [], 'no JavaScript errors on the pages');
  } catch (e) {
    dumpDiagnostics({ amphi, browser: b1 });
    if (b2) dumpDiagnostics({ browser: b2 });
    throw e;
  } finally {
    await cleanup(b1, b2, amphi);
  }
});
