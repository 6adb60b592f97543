// The glass-to-glass probe's publisher: a pre-encoded 1080p30 FLV whose frames carry
// their own index as a barcode, sent in real time by this process.
//
// The file is encoded once (cached): testsrc2 at 1920x1080 30 fps with a band of 32
// black/white blocks over the top 120 rows, x264 veryfast zerolatency (no B-frames),
// 2 s keyframes (OBS's usual setting), 4.5 Mb/s, AAC 128 kb/s 48 kHz. Band layout
// (block b is 60 pixels wide at 1080p):
//   block 0 white, block 1 black: the reader's threshold;
//   blocks 2..21: the frame index in the file, 20 bits, most significant first;
//   blocks 22..27: the index modulo 61, 6 bits (a misread block fails the check);
//   blocks 28..31: black.
//
// The pacer reads the FLV's tags and writes each one into ffmpeg (`-c copy`, nothing
// re-encoded) at launch time + the tag's timestamp, looping the file with timestamps
// carried on; ffmpeg speaks RTMP to the server. So frame k of the stream (loop L, index
// i, k = L × frames + i) was "captured" at `t0 + k / fps`: the moment an encoder with
// no encoding delay would have sent it. The publisher's x264 costs nothing at run
// time, which on a 2-core machine leaves the CPU to the server under test.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const FPS = 30;
export const FILE_SECONDS = 60;
export const FILE_FRAMES = FPS * FILE_SECONDS;
export const BLOCKS = 32;
/// Rows of the band at 1080p (scaled with the picture in every rendition).
export const BAND_ROWS = 120;
export const INDEX_BITS = 20;
export const CHECK_MOD = 61;

// geq expression of the band's luma for frame N at block X (a 32x1 picture, scaled up).
const BAND_EXPR =
  `255*(eq(X,0)+between(X,2,21)*mod(floor(N/pow(2,21-X)),2)` +
  `+between(X,22,27)*mod(floor(mod(N,${CHECK_MOD})/pow(2,27-X)),2))`;

/// Encodes the source file unless it is cached; returns its path. `bframes` > 0: x264
/// veryfast without the zerolatency tune and with that many B-frames, as OBS's x264 and
/// NVENC send by default (the encoder holds each frame until the P-frame after it:
/// see `reorderMs` in [`startPacedPublisher`]).
export async function ensureSource(dir = join(process.env.TMPDIR || tmpdir(), 'amphi-bench-g2g'), { bframes = 0 } = {}) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `barcode-1080p30-${FILE_SECONDS}s-v1${bframes ? `-bf${bframes}` : ''}.flv`);
  const tune = bframes ? ['-bf', String(bframes)] : ['-tune', 'zerolatency'];
  if (existsSync(file)) return file;
  console.log(`encoding ${file} (once)`);
  const part = `${file}.part`;
  // prettier-ignore
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=${FPS}`,
    '-f', 'lavfi', '-i', `color=black:size=${BLOCKS}x1:rate=${FPS},format=gray,geq=lum='${BAND_EXPR}',scale=1920:${BAND_ROWS}:flags=neighbor,format=yuv420p`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-filter_complex', '[0:v][1:v]overlay=0:0:shortest=1[v]', '-map', '[v]', '-map', '2:a',
    '-t', String(FILE_SECONDS),
    '-c:v', 'libx264', '-preset', 'veryfast', ...tune, '-profile:v', 'high',
    '-g', String(2 * FPS), '-keyint_min', String(2 * FPS), '-sc_threshold', '0',
    '-b:v', '4500k', '-maxrate', '4500k', '-bufsize', '4500k', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000',
    '-f', 'flv', part,
  ];
  await run('ffmpeg', args);
  renameSync(part, file);
  return file;
}

function run(cmd, args) {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', rej);
    p.once('exit', (code) => (code === 0 ? res() : rej(new Error(`${cmd} exited with ${code}`))));
  });
}

/// The FLV file's tags: { type, ts (ms), header: bool (sequence header / metadata),
/// bytes (the whole tag with its 11-byte header, without the trailing size) }.
export function readFlv(file) {
  const buf = readFileSync(file);
  if (buf.toString('latin1', 0, 3) !== 'FLV') throw new Error(`${file}: not an FLV file`);
  const headerLen = buf.readUInt32BE(5);
  const header = buf.subarray(0, headerLen + 4); // FLV header + PreviousTagSize0
  const tags = [];
  let at = headerLen + 4;
  while (at + 11 <= buf.length) {
    const type = buf[at] & 0x1f;
    const size = buf.readUIntBE(at + 1, 3);
    const ts = (buf.readUIntBE(at + 4, 3) | (buf[at + 7] << 24)) >>> 0;
    const end = at + 11 + size;
    if (end + 4 > buf.length) break;
    const body = buf.subarray(at + 11, end);
    // Metadata, AVC sequence header (packet type 0), AAC sequence header (packet type 0).
    const isHeader = type === 18 || (type === 9 && body[1] === 0) || (type === 8 && body[1] === 0);
    // An AVC video frame's composition time offset (PTS − DTS, ms, signed 24 bits).
    const cts = type === 9 && body[1] === 1 ? (body.readUIntBE(2, 3) << 8) >> 8 : 0;
    tags.push({ type, ts, cts, header: isHeader, bytes: buf.subarray(at, end) });
    at = end + 4;
  }
  return { header, tags };
}

function retimed(tag, ts) {
  const b = Buffer.from(tag.bytes);
  b.writeUIntBE(ts & 0xffffff, 4, 3);
  b[7] = (ts >>> 24) & 0xff;
  return b;
}

function sizeTrailer(len) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(len);
  return b;
}

/// Sends `file` in real time to `url` (RTMP) until stopped, looping it. `t0` (wall
/// clock, ms) is when the tag at timestamp 0 was written; frame k was due at
/// `t0 + videoStart + k * 1000 / FPS`. `fileFrames`: the file's video frames (each loop
/// starts that many frame intervals after the previous one, so timestamps run on
/// without a jump).
export function startPacedPublisher(file, url, { fileFrames = FILE_FRAMES } = {}) {
  const { header, tags } = readFlv(file);
  const loopMs = Math.round((fileFrames * 1000) / FPS);
  // The first video frame's timestamp (the muxer shifts everything by the AAC
  // encoder's priming, ~21 ms): frame k is due at t0 + videoStart + k / FPS.
  // With B-frames a tag goes out at its decode time, before frames it is shown after:
  // a real encoder sends it only once it has captured the latest of them. Frames are
  // taken as captured `reorderMs` (the largest PTS − DTS) before their presentation
  // time, so no frame is sent before it was captured. 0 without B-frames.
  const video = tags.filter((t) => t.type === 9 && !t.header);
  const first = video[0];
  const reorderMs = Math.max(0, ...video.map((t) => t.cts));
  const videoStart = (first?.ts ?? 0) + (first?.cts ?? 0) - reorderMs;
  // prettier-ignore
  const ff = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error',
    '-probesize', '65536', '-analyzeduration', '0',
    '-f', 'flv', '-i', 'pipe:0', '-c', 'copy', '-flvflags', 'no_duration_filesize', '-flush_packets', '1', '-f', 'flv', url,
  ], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  ff.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  ff.stdin.on('error', () => {});
  let stopped = false;
  const state = { t0: null, loops: 0 };
  const done = (async () => {
    ff.stdin.write(header);
    state.t0 = Date.now();
    for (let loop = 0; !stopped; loop++) {
      state.loops = loop;
      for (const tag of tags) {
        if (stopped) break;
        if (loop > 0 && tag.header) continue;
        const ts = tag.ts + loop * loopMs;
        const wait = state.t0 + ts - Date.now();
        if (wait > 1) await sleep(wait);
        const b = retimed(tag, ts);
        ff.stdin.write(Buffer.concat([b, sizeTrailer(b.length)]));
      }
    }
  })();
  return {
    get t0() {
      return state.t0;
    },
    /// Wall clock (ms) at which the frame with in-file index `i` shown at `shownAt`
    /// was due: the latest loop of it not after `shownAt`.
    capturedAt(i, shownAt) {
      const frameMs = 1000 / FPS;
      const zero = state.t0 + videoStart;
      const k = Math.floor((shownAt - zero) / frameMs);
      const loop = Math.floor((k - i) / fileFrames);
      let t = zero + (loop * fileFrames + i) * frameMs;
      if (t > shownAt) t -= fileFrames * frameMs;
      return t;
    },
    stderr: () => stderr,
    stop: async () => {
      stopped = true;
      await done.catch(() => {});
      ff.stdin.end();
      ff.kill('SIGTERM');
      await Promise.race([new Promise((r) => ff.once('exit', r)), sleep(3000)]);
      if (ff.exitCode === null) ff.kill('SIGKILL');
    },
  };
}
