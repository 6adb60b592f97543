// A lecturer goes live from the browser: /publish/{event}#key=… in Chromium with a
// synthetic camera and microphone publishes over WHIP; a wrong key shows the server's
// reason; the event's playlists appear with AAC-LC audio (the Opus is transcoded), ~2 s
// segments (the browser sends almost no keyframes), a viewer page plays; Stop and closing
// the tab both end the session with a DELETE, and going live again is accepted.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  FAKE_MEDIA_ARGS, cleanup, dumpDiagnostics, get, launchBrowser, startAmphi, waitFor, waitForPlaying,
} from './harness.mjs';

const EVENT = 'lecture';
const KEY = 'secretkey';

// The synthetic camera at 640x480 keeps the ladder (480p + 360p) light on a shared machine.
const SMALL_CAMERA = `(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const gum = md.getUserMedia.bind(md);
  md.getUserMedia = (c) => gum(c && c.video ? { ...c, video: { width: 640, height: 480, frameRate: 30 } } : c);
})();`;

const publishState = (page) => page.evaluate(() => window.amphiPublish && window.amphiPublish.state());

async function bytes(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}

function ffprobe(path, entries, extra = []) {
  return execFileSync('ffprobe', ['-v', 'error', ...extra, '-show_entries', entries, '-of', 'json', path], {
    encoding: 'utf8',
  });
}

test('a lecturer goes live from the browser page; viewers get AAC audio and ~2 s segments', { timeout: 180000 }, async () => {
  let amphi, browser;
  const dir = mkdtempSync(join(tmpdir(), 'amphi-publish-test-'));
  try {
    amphi = await startAmphi({ events: [`${EVENT}:${KEY}`], extraArgs: ['--webrtc-udp', '127.0.0.1:0'] });
    browser = await launchBrowser({ args: FAKE_MEDIA_ARGS });
    const { page, context } = browser;
    await page.addInitScript(SMALL_CAMERA);

    // The key from the fragment fills the field and leaves the address bar.
    await page.goto(`${amphi.http}/publish/${EVENT}#key=${KEY}`);
    assert.equal(await page.inputValue('#key'), KEY);
    assert.equal(new URL(page.url()).hash, '', 'the key is gone from the address');
    assert.equal(await page.evaluate(() => sessionStorage.length), 1);

    // Screen sharing previews (getDisplayMedia); then back to the camera.
    await page.check('input[name="source"][value="screen"]');
    await page.click('#preview-btn');
    const surface = await waitFor(
      () =>
        page.evaluate(() => {
          const s = document.getElementById('preview').srcObject;
          const t = s && s.getVideoTracks()[0];
          return t && t.getSettings().displaySurface;
        }),
      10000,
      { what: 'a screen preview' },
    );
    assert.ok(surface, 'the preview shows a screen');
    await page.check('input[name="source"][value="camera"]');

    // A wrong key: the server's 401 reason is shown, nothing is live.
    await page.fill('#key', 'not-the-key');
    await page.click('#golive');
    const refused = await waitFor(
      async () => {
        const s = await publishState(page);
        return s && /refused/i.test(s.status) && !s.live && s;
      },
      20000,
      { what: 'the wrong key to be refused' },
    );
    console.log(`wrong key: ${refused.status}`);
    assert.match(refused.status, /stream key/i);

    // The right key: live.
    await page.fill('#key', KEY);
    const t0 = Date.now();
    await page.click('#golive');
    await waitFor(async () => (await publishState(page))?.live, 30000, { what: 'the page to say live' });
    console.log(`live after ${Date.now() - t0} ms: ${(await publishState(page)).status}`);
    assert.equal(await page.isVisible('#watch'), true, 'the viewer link shows once live');
    assert.equal(await page.getAttribute('#watch', 'href'), `/watch/${EVENT}`);

    // The multivariant playlist: encoded renditions only, AAC-LC audio.
    const base = `${amphi.http}/live/${EVENT}`;
    const master = await waitFor(
      async () => {
        const r = await get(`${base}/master.m3u8`);
        return r.status === 200 && r.text;
      },
      30000,
      { intervalMs: 500, what: 'the multivariant playlist' },
    );
    console.log(master);
    const variants = master.split('\n').filter((l) => l && !l.startsWith('#'));
    // The camera's own size is the top rendition (encoded: no passthrough on the grid).
    assert.match(master, /RESOLUTION=640x480,/, 'a rendition at the camera size');
    for (const line of master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF'))) {
      assert.match(line, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/, line);
    }

    // A viewer plays while the lecturer is live.
    const viewer = await context.newPage();
    await viewer.goto(`${amphi.http}/watch/${EVENT}`);
    const playing = await waitForPlaying(viewer, 30000, 'the viewer page to play');
    console.log(`viewer playing ${playing.height}p at ${playing.currentTime.toFixed(2)} s`);

    // Segments of every rendition: ~2 s (cut on the grid, not at the browser's rare
    // keyframes); a finished one decodes with AAC-LC 48 kHz audio and H.264 video.
    for (const v of variants) {
      const url = `${base}/${v}`;
      const playlist = await waitFor(
        async () => {
          const r = await get(url);
          return r.status === 200 && (r.text.match(/^#EXTINF:/gm) || []).length >= 3 && r.text;
        },
        30000,
        { intervalMs: 500, what: `three segments in ${v}` },
      );
      const durations = [...playlist.matchAll(/^#EXTINF:([0-9.]+)/gm)].map((m) => Number(m[1]));
      console.log(`${v}: segments ${durations.map((d) => d.toFixed(2)).join(', ')}`);
      for (const d of durations.slice(1)) assert.ok(d > 1.5 && d < 2.6, `${v}: a segment lasts ${d} s`);
      const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)[1];
      const segs = [...playlist.matchAll(/^#EXTINF:[^\n]*\n(?:#[^\n]*\n)*([^#\n][^\n]*)$/gm)].map((m) => m[1]);
      const seg = segs.at(-1);
      const folder = url.slice(0, url.lastIndexOf('/') + 1);
      const file = join(dir, `${v.replace(/\W/g, '_')}.mp4`);
      writeFileSync(file, Buffer.concat([await bytes(folder + map), await bytes(folder + seg)]));
      const streams = JSON.parse(ffprobe(file, 'stream=codec_type,codec_name,profile,sample_rate')).streams;
      const audio = streams.find((s) => s.codec_type === 'audio');
      const video = streams.find((s) => s.codec_type === 'video');
      assert.ok(audio, `${v} ${seg}: no audio stream`);
      assert.equal(audio.codec_name, 'aac');
      assert.equal(audio.profile, 'LC');
      assert.equal(audio.sample_rate, '48000');
      assert.equal(video?.codec_name, 'h264');
      // Decode every frame of both streams: no error output (timestamps kept as sent:
      // a browser's frame timing is variable).
      const dec = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-fps_mode', 'passthrough', '-f', 'null', '-'], { encoding: 'utf8' });
      assert.equal(dec.status, 0, `${v} ${seg}: ffmpeg exit ${dec.status}`);
      assert.equal(dec.stderr.trim(), '', `${v} ${seg} decodes without errors`);
    }
    await viewer.close();

    // Stop ends the WHIP session (DELETE): the server says so, and going live again is
    // accepted, not 409.
    const deletes = () => (amphi.stderr().match(/publisher sent DELETE/g) || []).length;
    await page.click('#stop');
    await waitFor(async () => /stopped/i.test((await publishState(page))?.status || ''), 10000, { what: 'stopped' });
    assert.equal((await publishState(page)).live, false);
    await waitFor(() => deletes() >= 1, 10000, { what: 'the server to see the DELETE' });
    await page.click('#golive');
    const again = await waitFor(
      async () => {
        const s = await publishState(page);
        return s && (s.live || /error|refused|already|failed|cannot/i.test(s.status)) && s;
      },
      30000,
      { what: 'going live a second time' },
    );
    assert.equal(again.live, true, `second go-live: ${again.status}`);
    // Closing the tab while live ends the session too (keepalive DELETE on pagehide).
    await page.close({ runBeforeUnload: true });
    await waitFor(() => deletes() >= 2, 10000, { what: 'a DELETE when the tab closes' });
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the pages');
  } catch (e) {
    dumpDiagnostics({ amphi, browser });
    throw e;
  } finally {
    await cleanup(browser, amphi);
    rmSync(dir, { recursive: true, force: true });
  }
});
