// Stateless origins behind the CDN tier, with a real player watching: a packager writes
// to a real S3-compatible server (moto), two origins started after it serve from the
// bucket, Varnish (the project's VCL) sits in front of both, and hls.js in Chromium plays
// through Varnish. Each origin in turn is killed (SIGKILL, like a crashed pod) and
// started again on the same port while the player plays: playback never stops.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, get, launchBrowser, playerStats, repoRoot, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

const KEY = 'failover-key';
const BUCKET = 'amphi-failover';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function script(name, args) {
  return execFileSync('bash', [join(repoRoot, 'scripts', name), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300000,
  }).trim();
}

// Media requests an origin answered, from its /metrics.
async function mediaRequests(origin) {
  const { text } = await get(`${origin.http}/metrics`);
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('amphi_origin_requests_total{') && !line.includes('kind="other"')) n += Number(line.split(' ').pop()) || 0;
  }
  return n;
}

test('playback through Varnish survives restarting each origin', { timeout: 240000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'amphi-failover-'));
  const s3Port = await freePort();
  const varnishPort = await freePort();
  let packager, publisher, browser;
  const origins = [];
  let varnishStarted = false;
  try {
    const endpoint = script('s3-test-server.sh', ['start', join(dir, 's3'), String(s3Port), BUCKET]);
    const store = ['--store', 's3', '--s3-endpoint', endpoint, '--s3-bucket', BUCKET, '--s3-path-style'];
    packager = await startAmphi({ events: [`lecture:${KEY}`], extraArgs: ['--role', 'packager', ...store], env: S3_ENV });
    publisher = startPublisher(packager.rtmp, KEY, { size: '640x360' });

    // Origins come after the packager, each on a port of its own it keeps across restarts.
    const originArgs = ['--role', 'origin', ...store, '--notify-url', `${packager.http}/internal/notify`];
    const ports = [await freePort(), await freePort()];
    const startOrigin = (port) =>
      startAmphi({ events: [`lecture:${KEY}`], http: `127.0.0.1:${port}`, extraArgs: originArgs, env: S3_ENV });
    for (const p of ports) origins.push(await startOrigin(p));

    const cdn = script('varnish-test.sh', ['start', join(dir, 'varnish'), String(varnishPort), ...ports.map(String)]);
    varnishStarted = true;
    const master = `${cdn}/live/lecture/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 40000, { intervalMs: 500, what: `${master} through Varnish` });

    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(`${cdn}/watch/lecture`);
    await waitForPlaying(page, 30000, 'playback through Varnish');

    // Sample the player every 250 ms from here on: the longest time without progress.
    let sampling = true;
    let longestStallMs = 0;
    let last = await playerStats(page);
    let lastProgressAt = Date.now();
    const sampler = (async () => {
      while (sampling) {
        await sleep(250);
        const s = await playerStats(page).catch(() => null);
        if (!s) continue;
        if (s.currentTime > last.currentTime + 0.01) lastProgressAt = Date.now();
        longestStallMs = Math.max(longestStallMs, Date.now() - lastProgressAt);
        last = s;
      }
    })();

    const served = [];
    for (let i = 0; i < origins.length; i++) {
      served.push(await mediaRequests(origins[i]));
      const before = await playerStats(page);
      origins[i].proc.kill('SIGKILL');
      await sleep(3000);
      origins[i] = await startOrigin(ports[i]);
      await sleep(5000);
      const after = await playerStats(page);
      console.log(
        `origin ${i + 1} killed and restarted: player ${before.currentTime.toFixed(2)} → ${after.currentTime.toFixed(2)} s, state ${after.state}, latency ${after.latency?.toFixed?.(2)} s`,
      );
      assert.ok(after.currentTime > before.currentTime + 6, `the player kept playing across origin ${i + 1}'s restart`);
    }
    sampling = false;
    await sampler;
    const end = await playerStats(page);
    console.log(`longest stall while origins restarted: ${longestStallMs} ms; media requests per origin before its restart: ${served.join(', ')}`);
    assert.ok(!end.paused, 'the player is still playing');
    assert.ok(longestStallMs < 3000, `the picture froze for ${longestStallMs} ms`);
    assert.ok(served.every((n) => n > 0), `both origins served viewers through the director (${served.join(', ')})`);
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
  } catch (e) {
    dumpDiagnostics({ amphi: packager, publishers: [publisher], browser });
    for (const o of origins) if (o) console.error(`--- origin stderr (tail) ---\n${o.stderr().slice(-3000)}`);
    throw e;
  } finally {
    await cleanup(browser, publisher, ...origins, packager);
    if (varnishStarted) script('varnish-test.sh', ['stop', join(dir, 'varnish')]);
    try {
      script('s3-test-server.sh', ['stop', join(dir, 's3'), String(s3Port)]);
    } catch (_) {
      /* already stopped */
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
