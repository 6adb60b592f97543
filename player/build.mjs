// Builds player/dist/: the pages, scripts and styles from src/ plus hls.js, flat, as the
// origin serves them under /assets/ (and the pages under /, /watch/{event}, /publish/{event}…).
// No bundler: the sources are plain browser scripts.
import { cpSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const require = createRequire(import.meta.url);
const hls = require.resolve('hls.js/dist/hls.min.js');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const files = [];
for (const name of readdirSync(src)) {
  const from = join(src, name);
  if (!statSync(from).isFile()) continue;
  cpSync(from, join(dist, name));
  files.push(name);
}
cpSync(hls, join(dist, 'hls.min.js'));
files.push('hls.min.js');

const { version } = require('hls.js/package.json');
console.log(`player: built ${files.length} files into dist/ (hls.js ${version}): ${files.sort().join(', ')}`);
