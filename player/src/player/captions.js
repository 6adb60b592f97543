// Captions: a <track id="captions"> slot filled from ?captions=<WebVTT URL> (same origin
// or https only), and the CC button. The stream's own subtitles rendition (EXT-X-MEDIA
// TYPE=SUBTITLES, live captions) appears as a text track: hls.js adds it and loads its
// WebVTT segments only while it is selected (no request while captions are off); Safari's
// native player adds it itself. The button turns the first usable track on or all off.

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
    const hls = currentHls();
    // The stream's subtitles first (hls.js selects them, which starts their loading).
    const streamTracks = hls && hls.subtitleTracks ? hls.subtitleTracks.length : 0;
    if (hls && streamTracks > 0) {
      hls.subtitleDisplay = !on;
      hls.subtitleTrack = on ? -1 : 0;
    }
    const first = list.find((t) => t !== (captionsTrack && captionsTrack.track) || captionsTrack.src);
    list.forEach((t) => {
      t.mode = !on && t === first ? 'showing' : 'disabled';
    });
    update();
  });
  tracks.addEventListener('addtrack', update);
  tracks.addEventListener('removetrack', update);
  tracks.addEventListener('change', update);
  update();
}
