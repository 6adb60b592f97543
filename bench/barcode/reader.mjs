// The glass-to-glass probe's reader, run in the page: for every frame the <video>
// presents (requestVideoFrameCallback), draws the barcode band into a small canvas,
// reads the frame index and records it with the wall-clock time the frame was due on
// screen (performance.timeOrigin + expectedDisplayTime). Also records the player's
// own figures at that moment (hls.js program date-time and latency) and every stall
// (`waiting` → `playing`).
//
// `installReader` is passed to page.evaluate; it must be self-contained.
export function installReader({ blocks, bandRows, indexBits, checkMod }) {
  const video = document.querySelector('video');
  if (!video) throw new Error('no <video> in the page');
  const W = blocks * 8;
  const H = 8;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const probe = {
    samples: [], // [shownAtMs, index, pdtMs|null, hlsLatency|null, height]
    unread: 0,
    stalls: [], // [startMs, endMs|null]
  };
  window.__g2g = probe;
  const hlsOf = () => (window.amphiPlayer && window.amphiPlayer.hls) || window.hls || null;

  video.addEventListener('waiting', () => {
    const last = probe.stalls[probe.stalls.length - 1];
    if (!last || last[1] != null) probe.stalls.push([Date.now(), null]);
  });
  const resumed = () => {
    const last = probe.stalls[probe.stalls.length - 1];
    if (last && last[1] == null) last[1] = Date.now();
  };
  video.addEventListener('playing', resumed);
  video.addEventListener('timeupdate', () => {
    if (!video.paused && video.readyState >= 3) resumed();
  });

  const read = () => {
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    if (!vw || !vh) return null;
    // The middle rows of the band, away from its edges (chroma and scaling blur).
    const rows = (bandRows / 1080) * vh;
    ctx.drawImage(video, 0, rows * 0.2, vw, rows * 0.6, 0, 0, W, H);
    const px = ctx.getImageData(0, 0, W, H).data;
    const lum = (b) => {
      let s = 0;
      for (let y = 2; y < 6; y++) for (let x = b * 8 + 2; x < b * 8 + 6; x++) s += px[(y * W + x) * 4 + 1];
      return s / 16;
    };
    const white = lum(0);
    const black = lum(1);
    if (white - black < 100) return null;
    const mid = (white + black) / 2;
    let index = 0;
    for (let b = 2; b < 2 + indexBits; b++) index = index * 2 + (lum(b) > mid ? 1 : 0);
    let check = 0;
    for (let b = 2 + indexBits; b < 2 + indexBits + 6; b++) check = check * 2 + (lum(b) > mid ? 1 : 0);
    return check === index % checkMod ? index : null;
  };

  const onFrame = (_now, meta) => {
    const shownAt = performance.timeOrigin + (meta.expectedDisplayTime || performance.now());
    const index = read();
    if (index == null) probe.unread++;
    else {
      const hls = hlsOf();
      const d = hls && hls.playingDate;
      probe.samples.push([
        shownAt,
        index,
        d ? d.getTime() + (meta.mediaTime - video.currentTime) * 1000 : null,
        hls && Number.isFinite(hls.latency) ? hls.latency : null,
        video.videoHeight,
      ]);
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  return true;
}

/// The probe's records since the last call (and clears them).
export function drainReader() {
  const p = window.__g2g;
  if (!p) return null;
  const out = { samples: p.samples, unread: p.unread, stalls: p.stalls };
  p.samples = [];
  p.unread = 0;
  p.stalls = p.stalls.filter((s) => s[1] == null);
  return out;
}
