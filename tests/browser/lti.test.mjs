// LTI 1.3 launches in Chromium, from a course platform (Moodle, Open edX) emulated here
// on loopback with a real RSA key pair (node:crypto) and ID tokens it signs itself (RS256,
// checked by amphi against the key set the platform serves). The browser goes the way a
// learner's does: the course page posts the login initiation to amphi, amphi sends the
// browser to the platform's auth URL with a state and a nonce, the platform posts the
// signed ID token back to amphi's launch URL. A learner's launch opens the player of the
// event with a viewer token minted by the server, and the question the learner asks goes
// out under the name the platform gave; an instructor's launch opens the moderation page,
// which shows that question with the learner's name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { addConsoleUser, amphiBin, cleanup, dumpDiagnostics, launchBrowser, startAmphi, waitFor } from './harness.mjs';

const EVENT = 'cs101';
const CLIENT_ID = 'amphi-tool';
const DEPLOYMENT = 'dep-1';
const KID = 'platform-key-1';
const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
const PEOPLE = {
  learner: { sub: 'learner-42', name: 'Ada Lovelace', role: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner' },
  instructor: { sub: 'teacher-7', name: 'Grace Hopper', role: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor' },
};

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// A page that posts `fields` to `action` as soon as it loads (how platforms hand over).
function autoPost(action, fields) {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`)
    .join('');
  return `<!doctype html><title>Course platform</title><body onload="document.forms[0].submit()">` +
    `<form method="post" action="${escape(action)}">${inputs}</form></body>`;
}

// The emulated platform: its key set, a course page starting a launch for a learner or an
// instructor, and the OIDC auth endpoint answering the tool with a signed ID token.
async function startPlatform() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: KID };
  const seen = { jwks: 0, auth: [] };
  let issuer = null;
  const sign = (claims) => {
    const input = `${b64url({ alg: 'RS256', typ: 'JWT', kid: KID })}.${b64url(claims)}`;
    const sig = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
    return `${input}.${sig}`;
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url, issuer);
    const html = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (url.pathname === '/jwks') {
      seen.jwks += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else if (url.pathname === '/course') {
      // The course page: the learner or instructor clicks the lecture's link.
      const tool = url.searchParams.get('tool');
      html(200, autoPost(`${tool}/lti/login`, {
        iss: issuer,
        login_hint: url.searchParams.get('as'),
        target_link_uri: `${tool}/lti/launch`,
        lti_message_hint: 'rl-1',
      }));
    } else if (url.pathname === '/auth') {
      const q = Object.fromEntries(url.searchParams);
      seen.auth.push(q);
      const who = PEOPLE[q.login_hint];
      if (!who || q.client_id !== CLIENT_ID || q.response_type !== 'id_token' || q.scope !== 'openid') {
        html(400, 'bad authentication request');
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const idToken = sign({
        iss: issuer, aud: CLIENT_ID, sub: who.sub, iat: now, exp: now + 300, nonce: q.nonce,
        name: who.name,
        [`${CLAIM}deployment_id`]: DEPLOYMENT,
        [`${CLAIM}version`]: '1.3.0',
        [`${CLAIM}message_type`]: 'LtiResourceLinkRequest',
        [`${CLAIM}target_link_uri`]: q.redirect_uri,
        [`${CLAIM}resource_link`]: { id: 'rl-1' },
        [`${CLAIM}roles`]: [who.role],
        [`${CLAIM}custom`]: { event: EVENT },
      });
      html(200, autoPost(q.redirect_uri, { id_token: idToken, state: q.state }));
    } else {
      html(404, 'not found');
    }
  });
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  issuer = `http://127.0.0.1:${server.address().port}`;
  return {
    issuer,
    seen,
    close: () => new Promise((res) => {
      server.closeAllConnections?.();
      server.close(() => res());
    }),
  };
}

function amphiCli(dataDir, args) {
  return new Promise((resolve, reject) => {
    execFile(amphiBin(), [args[0], '--data-dir', dataDir, ...args.slice(1)], (err, stdout, stderr) =>
      err ? reject(new Error(`amphi ${args.join(' ')}: ${err} ${stderr}`)) : resolve(stdout));
  });
}

// A private event whose viewers ask under their names, made through the console's API
// (the running server's directory follows it).
async function createEvent(amphi) {
  const password = 'a long console password';
  await addConsoleUser(amphi.dataDir, 'ops', 'admin', password);
  const login = await fetch(`${amphi.http}/api/admin/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: amphi.http },
    body: JSON.stringify({ user: 'ops', password }),
  });
  assert.equal(login.status, 200, 'console login');
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf } = await login.json();
  const created = await fetch(`${amphi.http}/api/admin/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: amphi.http, Cookie: cookie, 'X-CSRF-Token': csrf },
    body: JSON.stringify({ id: EVENT, title: 'Analytical engines', private: true, named_viewers: true }),
  });
  assert.equal(created.status, 201, `event created: ${await created.text()}`);
}

test('LTI 1.3: a learner launch opens the player and asks under their name; an instructor launch opens moderation', { timeout: 60000 }, async () => {
  let amphi, platform, browser;
  const t0 = Date.now();
  try {
    [amphi, platform] = await Promise.all([startAmphi({ events: [] }), startPlatform()]);
    await createEvent(amphi);
    await amphiCli(amphi.dataDir, [
      'lti', 'add-platform', '--issuer', platform.issuer, '--client-id', CLIENT_ID,
      '--auth-url', `${platform.issuer}/auth`, '--jwks-url', `${platform.issuer}/jwks`,
      '--deployment-id', DEPLOYMENT,
    ]);
    browser = await launchBrowser();
    const { page, context } = browser;

    // The learner: from the course page to the player, with a token minted by amphi.
    const launched = Date.now();
    await page.goto(`${platform.issuer}/course?as=learner&tool=${encodeURIComponent(amphi.http)}`);
    await page.waitForURL(new RegExp(`/watch/${EVENT}\\?token=`), { timeout: 10000 });
    console.log(`learner launch: course page to player in ${Date.now() - launched} ms`);
    const auth = platform.seen.auth[0];
    assert.equal(auth.redirect_uri, `${amphi.http}/lti/launch`);
    assert.equal(auth.response_mode, 'form_post');
    assert.ok(auth.nonce && auth.state && auth.nonce !== auth.state, 'a state and a nonce');
    assert.ok(platform.seen.jwks >= 1, 'amphi fetched the platform key set');
    // The name typed in the box does not count: the question goes out under the name
    // the platform signed, which the box then shows, read-only.
    const nameInput = page.locator('#qa-name');
    const question = 'Can the engine compute Bernoulli numbers?';
    await nameInput.fill('Someone Else');
    await page.locator('#qa-text').fill(question);
    await page.locator('.qa-submit').click();
    const mine = page.locator('#qa-list li', { hasText: question });
    await mine.waitFor({ timeout: 10000 });
    assert.equal((await mine.locator('.qa-who').textContent()).trim(), 'Ada Lovelace (you)');
    assert.equal(await nameInput.inputValue(), 'Ada Lovelace');
    assert.equal(await nameInput.getAttribute('readonly'), '', 'the name is the platform one, not editable');

    // The instructor: from the same course page to the moderation view of the event.
    const moderator = await context.newPage();
    await moderator.goto(`${platform.issuer}/course?as=instructor&tool=${encodeURIComponent(amphi.http)}`);
    await moderator.waitForURL(new RegExp(`/moderate/${EVENT}`), { timeout: 10000 });
    // Not premoderated: the question is among the approved ones.
    await moderator.locator('#tab-approved').click();
    const row = moderator.locator('#mod-list li', { hasText: question });
    await row.waitFor({ timeout: 10000 });
    // The name, then the asker's short id (for moderators).
    assert.match(await row.locator('.qa-who').textContent(), /^Ada Lovelace · /, 'the learner name, as the platform gave it');
    assert.ok(await row.locator('button[data-action="hide"]').count(), 'moderation actions are offered');
    assert.equal(platform.seen.auth.length, 2, 'one authentication request per launch');
    assert.ok(amphi.stderr().includes('LTI login started'), 'the logins are logged');
    assert.ok(!amphi.stderr().includes('LTI launch refused'), 'no launch refused');
    assert.deepEqual(browser.errors, [], 'no JavaScript errors');
    console.log(`whole test ${Date.now() - t0} ms`);
  } catch (e) {
    dumpDiagnostics({ amphi, browser });
    throw e;
  } finally {
    await cleanup(browser, platform, amphi);
  }
});
