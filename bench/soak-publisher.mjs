// The soak's publisher: a pre-encoded FLV sent in real time over RTMP for a given time,
// looped with its timestamps running on (no jump at the loop: the file lasts a whole
// number of video frames, audio frames and GOPs), as an encoder would send a lecture.
//
// Usage: node bench/soak-publisher.mjs FILE RTMP_URL SECONDS FILE_FRAMES
import { startPacedPublisher } from './barcode/source.mjs';

const [file, url, seconds, frames] = process.argv.slice(2);
if (!file || !url || !(Number(seconds) > 0) || !(Number(frames) > 0)) {
  console.error('usage: node bench/soak-publisher.mjs FILE RTMP_URL SECONDS FILE_FRAMES');
  process.exit(2);
}
const publisher = startPacedPublisher(file, url, { fileFrames: Number(frames) });
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  await publisher.stop();
  const err = publisher.stderr().trim();
  if (err) console.error(err);
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
setTimeout(() => stop(0), Number(seconds) * 1000);
