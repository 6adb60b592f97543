// Encoders other than OBS's plain RTMP, played in Chromium on the watch page:
// - SRT: ffmpeg's libsrt caller sends MPEG-TS (H.264 + AAC, 320x180) to `amphi serve
//   --srt`, the event and its key in the `streamid` (`#!::r=…,s=…,m=publish`);
// - Enhanced RTMP: an HEVC 320x180 publish from the E-RTMP-capable ffmpeg of the test
//   venv (the one tests/ertmp_hevc.rs uses; skipped with the reason when it is absent).
// Each test prints its time to first frame (the first frame the page presents, from the
// publisher's start and from the page's navigation) and checks currentTime advances in
// real time; the HEVC test prints which level and codec hls.js played: the H.264 ladder.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, get, grace, launchBrowser, playerStats, sleep, startAmphi, waitFor,
  waitForPlaying,
} from './harness.mjs';

const SRT_KEY = 'srt-browser-key-1618';
const HEVC_KEY = 'hevc-browser-key-1414';

// The lecture both publishers send: a 320x180 30 fps test pattern with 2 s keyframes and
// a tone, paced in real time, for at most `seconds` (the test stops it sooner).
function lectureInput(seconds) {
  // prettier-ignore
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
  ];
}
// prettier-ignore
const AAC = ['-c:a', 'aac', '-b:a', '64k', '-ar', '48000', '-ac', '2'];

// A publisher process with the shape cleanup() and dumpDiagnostics() expect; killed on
// exit if a test dies without its hooks.
function startProcess(bin, args, label) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  process.once('exit', kill);
  return {
    proc,
    size: label,
    startedAt: Date.now(),
    stderr: () => err,
    stop: async () => {
      kill();
      if (proc.exitCode === null && proc.signalCode === null) {
        await Promise.race([new Promise((res) => proc.once('exit', res)), grace(3000)]);
      }
    },
  };
}

// A free UDP port on loopback (amphi's SRT listener binds it right after).
async function freeUdpPort() {
  const s = createSocket('udp4');
  await new Promise((res, rej) => {
    s.once('error', rej);
    s.bind(0, '127.0.0.1', res);
  });
  const { port } = s.address();
  await new Promise((res) => s.close(res));
  return port;
}

// The E-RTMP-capable ffmpeg: $AMPHI_ERTMP_FFMPEG, or the binary of the test venv's
// imageio-ffmpeg package; null with the reason when there is none.
function ertmpFfmpeg() {
  if (process.env.AMPHI_ERTMP_FFMPEG) return { bin: process.env.AMPHI_ERTMP_FFMPEG };
  const venv = process.env.AMPHI_VENV || join(homedir(), '.cache', 'amphi-venv');
  const python = join(venv, 'bin', 'python');
  if (!existsSync(python)) return { reason: `${python} missing (scripts/install-deps.sh test)` };
  const r = spawnSync(python, ['-c', 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return { reason: `imageio-ffmpeg missing from ${venv}: ${r.stderr.trim()}` };
  const bin = r.stdout.trim();
  const version = spawnSync(bin, ['-version'], { encoding: 'utf8' });
  if (version.status !== 0) return { reason: `${bin} does not run` };
  return { bin, version: version.stdout.split('\n')[0] };
}

// Records the first frame the watch page's <video> presents (requestVideoFrameCallback),
// as milliseconds since the epoch and since the page's navigation started.
async function recordFirstFrame(page) {
  await page.addInitScript(() => {
    document.addEventListener('DOMContentLoaded', () => {
      const video = document.getElementById('video');
      video?.requestVideoFrameCallback((_now, meta) => {
        window.amphiFirstFrame = {
          epochMs: performance.timeOrigin + meta.presentationTime,
          sinceNavigationMs: meta.presentationTime,
        };
      });
    });
  });
}

// Waits for the multivariant playlist to list a variant (the publish reached the ladder).
async function waitForMaster(amphi, event, ms) {
  const url = `${amphi.http}/live/${event}/master.m3u8`;
  return waitFor(
    async () => {
      const r = await get(url);
      return r.status === 200 && r.text.includes('#EXT-X-STREAM-INF') ? r.text : false;
    },
    ms,
    { intervalMs: 200, what: `${url} to list a variant` },
  );
}

// Opens /watch/{event}, waits for it to play and for currentTime to advance in real time
// (hls.js may catch up at up to 1.5x); prints and returns the time to first frame.
async function playsInChromium(amphi, event, publisher, label) {
  const browser = await launchBrowser({ viewport: { width: 640, height: 360 } });
  const { page } = browser;
  await recordFirstFrame(page);
  const navigated = Date.now();
  await page.goto(`${amphi.http}/watch/${event}`);
  await waitForPlaying(page, 12000, `the ${label} publish to play`);
  const first = await waitFor(() => page.evaluate(() => window.amphiFirstFrame), 2000, {
    what: 'the first presented frame',
  });
  // The real-time check starts a second after the first frame (a start at the live edge
  // may wait once for the next part) and spans 5 s, so one late part on a busy machine
  // does not read as a player that cannot keep up.
  await sleep(1000);
  const a = await playerStats(page);
  const t0 = Date.now();
  await sleep(5000);
  const b = await playerStats(page);
  const wall = (Date.now() - t0) / 1000;
  const advanced = b.currentTime - a.currentTime;
  console.log(
    `${label}: first frame ${((first.epochMs - publisher.startedAt) / 1000).toFixed(2)} s after the publisher ` +
      `started, ${(first.sinceNavigationMs / 1000).toFixed(2)} s after navigation (page opened ` +
      `${((navigated - publisher.startedAt) / 1000).toFixed(2)} s after the publisher); currentTime ` +
      `advanced ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s; latency ${b.latency?.toFixed(2)} s`,
  );
  assert.ok(advanced >= 0.8 * wall && advanced <= 1.6 * wall, `currentTime advanced ${advanced.toFixed(2)} s in ${wall.toFixed(2)} s`);
  assert.equal(b.paused, false, 'the video is not paused');
  return { browser, page, stats: b };
}

test('SRT publish (ffmpeg, MPEG-TS H.264 + AAC) plays in Chromium', { timeout: 60000 }, async () => {
  const started = Date.now();
  let amphi, publisher, browser;
  try {
    const srt = `127.0.0.1:${await freeUdpPort()}`;
    amphi = await startAmphi({ events: [`srtlecture:${SRT_KEY}`], extraArgs: ['--srt', srt] });
    assert.match(amphi.stderr(), /SRT listener ready/, 'the SRT listener is up before AMPHI_READY');
    const url = `srt://${srt}?streamid=#!::r=srtlecture,s=${SRT_KEY},m=publish`;
    // prettier-ignore
    publisher = startProcess(process.env.FFMPEG_BIN || 'ffmpeg', [
      ...lectureInput(40),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'high',
      '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
      '-b:v', '600k', '-maxrate', '600k', '-bufsize', '1200k', ...AAC,
      '-f', 'mpegts', url,
    ], 'srt 320x180');
    await waitForMaster(amphi, 'srtlecture', 10000);
    console.log(`srt: master playlist lists a variant ${((Date.now() - publisher.startedAt) / 1000).toFixed(2)} s after the publisher started`);
    ({ browser } = await playsInChromium(amphi, 'srtlecture', publisher, 'srt'));
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    assert.ok(!amphi.stderr().includes(SRT_KEY), 'the stream key never reaches the log');
    console.log(`srt: test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});

test('Enhanced RTMP HEVC publish plays in Chromium on the H.264 ladder', { timeout: 60000 }, async (t) => {
  const ffmpeg = ertmpFfmpeg();
  if (!ffmpeg.bin) {
    console.log(`hevc: skipped: no E-RTMP-capable ffmpeg: ${ffmpeg.reason}`);
    t.skip(`no E-RTMP-capable ffmpeg: ${ffmpeg.reason}`);
    return;
  }
  if (ffmpeg.version) console.log(`hevc: E-RTMP publisher: ${ffmpeg.version}`);
  const started = Date.now();
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi({ events: [`hevclecture:${HEVC_KEY}`] });
    // prettier-ignore
    publisher = startProcess(ffmpeg.bin, [
      ...lectureInput(40),
      '-c:v', 'libx265', '-preset', 'ultrafast',
      '-x265-params', 'log-level=error:keyint=60:min-keyint=60:scenecut=0',
      '-b:v', '300k', '-pix_fmt', 'yuv420p', ...AAC,
      // The connect command's fourCcList, as OBS 30+ sends it.
      '-rtmp_enhanced_codecs', 'hvc1,av01',
      '-f', 'flv', `${amphi.rtmp}/${HEVC_KEY}`,
    ], 'e-rtmp hevc 320x180');
    const master = await waitForMaster(amphi, 'hevclecture', 10000);
    const codecs = [...master.matchAll(/CODECS="([^"]+)"/g)].map((m) => m[1]);
    console.log(`hevc: master ${((Date.now() - publisher.startedAt) / 1000).toFixed(2)} s after the publisher started, CODECS ${codecs.join(' | ')}`);
    assert.ok(codecs.some((c) => c.startsWith('avc1.')), `an H.264 variant: ${codecs}`);

    let page;
    ({ browser, page } = await playsInChromium(amphi, 'hevclecture', publisher, 'hevc'));
    const played = await page.evaluate(() => {
      const { hls } = window.amphiPlayer;
      const level = hls.levels[hls.currentLevel];
      const hevc = (hls.levels.find((l) => /^(hvc1|hev1)/.test(l.videoCodec || '')) || {}).videoCodec;
      return {
        index: hls.currentLevel,
        height: level?.height,
        videoCodec: level?.videoCodec,
        levels: hls.levels.map((l) => `${l.height}p ${l.videoCodec}`),
        hevcInMse: MediaSource.isTypeSupported(`video/mp4; codecs="${hevc || 'hvc1.1.6.L60.90'}"`),
        decodedFrames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames,
      };
    });
    console.log(
      `hevc: hls.js plays level ${played.index} (${played.height}p, ${played.videoCodec}) of [${played.levels.join(', ')}]; ` +
        `Chromium's MSE ${played.hevcInMse ? 'accepts' : 'refuses'} HEVC; ${played.decodedFrames} frames decoded`,
    );
    assert.match(played.videoCodec || '', /^avc1\./, 'hls.js plays the H.264 ladder rendition');
    assert.ok(played.decodedFrames > 0, 'frames were decoded');
    assert.ok(amphi.stderr().includes('"h265"'), 'the publish was HEVC');
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
    // A viewer who joins later can play too: the multivariant playlist keeps listing the
    // H.264 rendition beside the HEVC one up to 10 s into the lecture.
    await t.test(
      'the H.264 variant stays listed (a browser is never left only hvc1)',
      async () => {
        const url = `${amphi.http}/live/hevclecture/master.m3u8`;
        let looks = 0;
        do {
          const codecs = [...(await get(url)).text.matchAll(/CODECS="([^"]+)"/g)].map((m) => m[1]);
          looks += 1;
          assert.ok(
            codecs.some((c) => c.startsWith('avc1.')),
            `${((Date.now() - publisher.startedAt) / 1000).toFixed(2)} s after the publisher started, the master lists ${codecs.join(' | ')}`,
          );
          await sleep(250);
        } while (looks < 8 || Date.now() < publisher.startedAt + 10000);
        console.log(`hevc: the H.264 variant listed in all ${looks} looks at the master up to ${((Date.now() - publisher.startedAt) / 1000).toFixed(1)} s into the lecture`);
      },
    );
    console.log(`hevc: test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
