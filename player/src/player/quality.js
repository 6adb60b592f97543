// The quality menu: a <select> whose first option is "Auto" (hls.js's adaptive choice,
// naming the height it plays) followed by the renditions, highest first. Switching uses
// hls.nextLevel: at the next fragment boundary, without flushing the buffer.

export function formatBitrate(bps) {
  if (!bps) return '';
  return bps >= 1e6 ? (bps / 1e6).toFixed(1) + ' Mb/s' : Math.round(bps / 1e3) + ' kb/s';
}

export function levelLabel(level) {
  const parts = [];
  if (level.height) parts.push(level.height + 'p');
  const rate = formatBitrate(level.bitrate);
  if (rate) parts.push(rate);
  return parts.join(' · ') || 'Level';
}

// hls.js level indexes in menu order: highest first, then by bitrate.
export function menuOrder(levels) {
  return levels
    .map((level, index) => ({ level, index }))
    .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate);
}

// Binds the menu to `select`; `currentHls()` is the hls.js instance playing, or null.
export function qualityMenu(select, currentHls) {
  function reset() {
    while (select.options.length > 1) select.remove(1);
    select.options[0].textContent = 'Auto';
    select.value = '-1';
    select.disabled = true;
  }

  function update() {
    const hls = currentHls();
    if (!hls) return;
    const current = hls.levels[hls.currentLevel];
    select.options[0].textContent = current && current.height ? 'Auto (' + current.height + 'p)' : 'Auto';
    select.value = hls.autoLevelEnabled ? '-1' : String(hls.manualLevel >= 0 ? hls.manualLevel : hls.currentLevel);
  }

  function build() {
    const hls = currentHls();
    reset();
    if (!hls) return;
    for (const { level, index } of menuOrder(hls.levels)) {
      const opt = document.createElement('option');
      opt.value = String(index);
      opt.textContent = levelLabel(level);
      select.appendChild(opt);
    }
    select.disabled = hls.levels.length < 2;
    update();
  }

  select.addEventListener('change', () => {
    const hls = currentHls();
    if (!hls) return;
    const index = Number(select.value);
    // -1 returns to automatic selection.
    hls.nextLevel = Number.isInteger(index) ? index : -1;
    update();
  });

  return { reset, build, update };
}
