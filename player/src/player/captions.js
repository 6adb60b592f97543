// Captions: a <track id="captions"> slot filled from ?captions=<WebVTT URL> (same origin
// or https only), and the CC button; hls.js adds the stream's own subtitle renditions as
// text tracks.

export function setupCaptions(video, captionsTrack, ccBtn, currentHls) {
  if (captionsTrack) {
    const raw = new URLSearchParams(location.search).get('captions');
    if (raw) {
      try {
        const url = new URL(raw, location.href);
        if (url.origin === location.origin || url.protocol === 'https:') captionsTrack.src = url.href;
      } catch (_) {
        /* ignored: not a URL */
      }
    }
  }
  if (!ccBtn) return;
  const tracks = video.textTracks;
  const usable = () => Array.from(tracks).filter((t) => t.kind === 'captions' || t.kind === 'subtitles');
  const update = () => {
    const list = usable();
    const withSource = list.filter((t) => t !== (captionsTrack && captionsTrack.track) || captionsTrack.src);
    ccBtn.hidden = withSource.length === 0;
    const on = withSource.some((t) => t.mode === 'showing');
    ccBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
  };
  ccBtn.addEventListener('click', () => {
    const list = usable();
    const on = list.some((t) => t.mode === 'showing');
    list.forEach((t, i) => {
      t.mode = !on && i === 0 ? 'showing' : 'disabled';
    });
    const hls = currentHls();
    if (hls) hls.subtitleDisplay = !on;
    update();
  });
  tracks.addEventListener('addtrack', update);
  tracks.addEventListener('removetrack', update);
  tracks.addEventListener('change', update);
  update();
}
