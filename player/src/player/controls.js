// The player's buttons: Play/Pause, Mute/Unmute, Full screen and Live. Each button's text
// is its accessible name and follows the video (played, paused, muted, full screen); what
// Play and Live do to the stream is the caller's (`togglePlay`, `goLive`). The labels are
// pure functions, unit-tested in player/test/controls.test.mjs.

export function playLabel(paused) {
  return paused ? 'Play' : 'Pause';
}

export function muteLabel(muted, volume) {
  return muted || volume === 0 ? 'Unmute' : 'Mute';
}

export function fullscreenLabel(isFullscreen) {
  return isFullscreen ? 'Exit full screen' : 'Full screen';
}

function label(btn, text) {
  btn.textContent = text;
  btn.setAttribute('aria-label', text);
}

// Binds the buttons to `video` (`stage` is what goes full screen). Returns { refresh() },
// which sets every label from the video's current state.
export function bindControls({ video, stage, play, mute, fullscreen, live }, { togglePlay, goLive }) {
  const updatePlay = () => label(play, playLabel(video.paused));
  const updateMute = () => {
    const text = muteLabel(video.muted, video.volume);
    label(mute, text);
    mute.classList.toggle('btn-accent', text === 'Unmute');
  };
  const updateFullscreen = () => label(fullscreen, fullscreenLabel(!!document.fullscreenElement));

  play.addEventListener('click', togglePlay);
  mute.addEventListener('click', () => {
    if (video.muted || video.volume === 0) {
      video.muted = false;
      if (video.volume === 0) video.volume = 1;
    } else {
      video.muted = true;
    }
  });
  live.addEventListener('click', goLive);
  fullscreen.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (stage.requestFullscreen) stage.requestFullscreen().catch(() => {});
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();
  });
  if (!document.fullscreenEnabled && !video.webkitEnterFullscreen) fullscreen.hidden = true;

  video.addEventListener('play', updatePlay);
  video.addEventListener('pause', updatePlay);
  video.addEventListener('volumechange', updateMute);
  document.addEventListener('fullscreenchange', updateFullscreen);

  return {
    refresh() {
      updatePlay();
      updateMute();
      updateFullscreen();
    },
  };
}
