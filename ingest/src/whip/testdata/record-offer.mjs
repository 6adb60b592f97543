// Records the SDP offer headless Chromium makes for a WHIP publish (fake camera and
// microphone, H.264 preferred, Opus): what `signal::inspect_offer` is tested against.
//
//   node ingest/src/whip/testdata/record-offer.mjs > ingest/src/whip/testdata/chromium.sdp
//
// playwright-core comes from player/node_modules (`npm ci` in player/).
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../../../../player/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const profile = mkdtempSync(join(tmpdir(), 'amphi-offer-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});
// getUserMedia needs a secure context: a blank page on loopback is one.
const server = createServer((_, res) => res.end('<!doctype html><title>offer</title>'));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const sdp = await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    const pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) {
      const t = pc.addTransceiver(track, { direction: 'sendonly' });
      if (track.kind === 'video') {
        const h264 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264');
        t.setCodecPreferences(h264);
      }
    }
    await pc.setLocalDescription(await pc.createOffer());
    // Non-trickle, as a WHIP client sends it: wait for the host candidates.
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 3000);
    });
    return pc.localDescription.sdp;
  });
  process.stdout.write(sdp);
} finally {
  server.close();
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
