// The green room: an event in preview, a publisher with a 10 s keyframe interval; the
// preview page shows the checks with the keyframe check red and the OBS fix while a
// student's watch page shows the waiting room; the lecturer fixes OBS (a publisher with
// 2 s keyframes takes over), the check turns green, Go live → the student plays.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, grace, launchBrowser, sleep, startAmphi, startPublisher, waitFor, waitForPlaying,
} from './harness.mjs';

const SIZE = '320x180';

// ffmpeg like OBS with Keyframe Interval at 10 s (300 frames at 30 fps).
function startLongGopPublisher(rtmpBase, key) {
  // prettier-ignore
  const args = [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${SIZE}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
    '-g', '300', '-keyint_min', '300', '-sc_threshold', '0', '-b:v', '600k', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000',
    '-f', 'flv', `${rtmpBase}/${key}`,
  ];
  const proc = spawn(process.env.FFMPEG_BIN || 'ffmpeg', args, { stdio: ['ignore', 'ignore', 'ignore'] });
  return {
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await Promise.race([new Promise((r) => proc.once('exit', r)), grace(5000)]);
    },
  };
}

test('green room: checks with the fix, waiting room, Go live, the student plays', { timeout: 120000 }, async () => {
  let amphi, bad, good, browser;
  const t0 = Date.now();
  const since = () => ((Date.now() - t0) / 1000).toFixed(1) + ' s';
  try {
    amphi = await startAmphi({ events: ['lecture:secretkey:preview'] });
    const token = await amphi.moderatorToken('lecture');
    browser = await launchBrowser();
    const lecturer = browser.page;
    const student = await browser.context.newPage();

    bad = startLongGopPublisher(amphi.rtmp, 'secretkey');
    await lecturer.goto(`${amphi.http}/preview/lecture#token=${token}`);
    // The token left the address bar.
    assert.equal(new URL(lecturer.url()).hash, '');
    const keyframe = lecturer.locator('#pv-checks li[data-check="keyframe_interval"]');
    await waitFor(async () => (await keyframe.count()) === 1 && (await keyframe.getAttribute('data-level')) === 'red', 25000, {
      what: 'the keyframe check to show red',
    });
    const text = await keyframe.textContent();
    assert.match(text, /keyframe interval \d+ s/);
    assert.match(text, /Fix: set Keyframe Interval to 2 s in OBS \(Settings → Output/);
    assert.equal(await lecturer.locator('#pv-overall').getAttribute('data-level'), 'red');
    assert.ok(await lecturer.locator('#pv-golive').isVisible(), 'Go live is offered in preview');
    console.log(`keyframe check red with the fix at ${since()}`);

    // The student waits, even though the stream is packaged.
    await student.goto(`${amphi.http}/watch/lecture`);
    await waitFor(async () => (await student.evaluate(() => document.body.dataset.state)) === 'waiting', 10000, {
      what: 'the student in the waiting room',
    });
    // The lecturer sees their stream meanwhile.
    await waitFor(async () => lecturer.evaluate(() => {
      const v = document.getElementById('pv-video');
      return v.readyState >= 2 && v.currentTime > 0;
    }), 25000, { what: 'the preview to play' });
    console.log(`preview playing, student waiting at ${since()}`);

    // The lecturer fixes OBS: a publisher with 2 s keyframes takes over.
    await bad.stop();
    good = startPublisher(amphi.rtmp, 'secretkey', { size: SIZE });
    await waitFor(async () => (await keyframe.getAttribute('data-level')) === 'green', 20000, {
      what: 'the keyframe check to turn green',
    });
    const warnings = await lecturer.locator('#pv-warnings li').allTextContents();
    assert.ok(warnings.some((w) => w.includes('Keyframe Interval to 2 s')), `the warning stays listed: ${warnings}`);
    assert.equal(await student.evaluate(() => document.body.dataset.state), 'waiting', 'still waiting before Go live');
    console.log(`keyframe check green at ${since()}`);

    await lecturer.locator('#pv-golive').click();
    await waitFor(async () => (await lecturer.locator('#pv-stage').textContent()).includes('Live'), 10000, {
      what: 'the stage to show live',
    });
    assert.match(await lecturer.locator('#pv-live-note').textContent(), /Live since/);
    const wentLive = Date.now();
    await waitForPlaying(student, 25000, 'the student to play after Go live');
    console.log(`student playing ${((Date.now() - wentLive) / 1000).toFixed(1)} s after Go live (total ${since()})`);

    // The start of the lecture is a chapter at the go-live program time.
    const chapters = await (await fetch(`${amphi.http}/api/events/lecture/chapters`)).json();
    assert.ok(chapters.chapters.some((c) => c.text === 'Lecture starts'), JSON.stringify(chapters));
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the pages');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [good], browser });
    throw e;
  } finally {
    if (bad) await bad.stop();
    await cleanup(browser, good, amphi);
  }
});
