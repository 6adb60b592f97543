// Building page elements from data: one element with its class and its text, the text
// always set with textContent (nothing from the server or a viewer is parsed as HTML).
// Shared by the player's modules and the page scripts bundled with it (qa-core.js,
// health-view.js); unit-tested in player/test/dom.test.mjs.

// A new `tag` element with `className` (if any) and `text` (if not null or undefined).
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
