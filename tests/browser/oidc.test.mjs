// The console's "Log in with your institution" in Chromium: with `amphi oidc set`
// pointing at a real provider (oidc-provider on loopback, tests/oidc/provider.mjs, which
// logs in the test account without a form), the login page shows the button, and one
// click goes through the provider and back to the console, logged in as that account
// with the role its groups give (the session cookie is SameSite=Strict: the callback page
// must move on to /admin itself for the browser to send it).
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { amphiBin, cleanup, dumpDiagnostics, launchBrowser, repoRoot, startAmphi } from './harness.mjs';

function startProvider(redirectUri) {
  const proc = spawn('node', ['provider.mjs'], {
    cwd: join(repoRoot, 'tests/oidc'),
    env: { ...process.env, OIDC_PORT: '0', OIDC_REDIRECT_URI: redirectUri, OIDC_AUTO_USER: 'alice' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the provider did not start within 15 s')), 15000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /issuer (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ issuer: m[1], stop: () => proc.kill() });
      }
    });
    proc.on('exit', (code) => reject(new Error(`provider exited ${code}`)));
  });
}

function oidcSet(dataDir, issuer) {
  const secret = join(dataDir, 'oidc-secret');
  writeFileSync(secret, 'amphi-secret\n', { mode: 0o600 });
  const args = ['oidc', '--data-dir', dataDir, 'set', '--issuer', issuer, '--client-id', 'amphi',
    '--client-secret-file', secret, '--admin-group', 'it-video'];
  return new Promise((resolve, reject) => {
    execFile(amphiBin(), args, (err, stdout, stderr) => (err ? reject(new Error(`${err} ${stderr}`)) : resolve(stdout)));
  });
}

test('the institution button logs an admin in through a real OpenID Connect provider', { timeout: 60000 }, async () => {
  let amphi, provider, browser;
  const t0 = Date.now();
  try {
    amphi = await startAmphi({ events: [] });
    provider = await startProvider(`${amphi.http}/admin/oidc/callback`);
    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(`${amphi.http}/admin`);
    await page.locator('#login-section').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#oidc-login').isHidden(), true, 'no button before `amphi oidc set`');

    await oidcSet(amphi.dataDir, provider.issuer);
    await page.reload();
    const button = page.getByRole('link', { name: 'Log in with your institution' });
    await button.waitFor({ state: 'visible' });
    await button.click();
    await page.locator('#events-section').waitFor({ state: 'visible', timeout: 15000 });
    assert.match(await page.locator('#who-name').textContent(), /^alice \(admin\)$/);
    assert.equal(new URL(page.url()).pathname, '/admin');
    console.log(`logged in through the provider; whole test ${Date.now() - t0} ms`);
  } catch (e) {
    dumpDiagnostics({ amphi, browser });
    throw e;
  } finally {
    if (provider) provider.stop();
    await cleanup(browser, amphi);
  }
});
