// Keyboard shortcuts: k or space play/pause, m mute, f full screen, l live edge,
// c captions. Never while typing (the Q&A box) or when a modifier is held.

export function bindKeys(buttons) {
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON|A)$/.test(t.tagName))) return;
    const key = e.key.toLowerCase();
    const click = (btn) => {
      if (btn && !btn.hidden && !btn.disabled) btn.click();
    };
    if (key === ' ' || key === 'k') click(buttons.play);
    else if (key === 'm') click(buttons.mute);
    else if (key === 'f') click(buttons.fullscreen);
    else if (key === 'l') click(buttons.live);
    else if (key === 'c') click(buttons.cc);
    else return;
    e.preventDefault();
  });
}
