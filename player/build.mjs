// Builds player/dist/: the pages, scripts and styles from src/ plus hls.js, flat, as the
// origin serves them under /assets/ (and the pages under /, /watch/{event}, /publish/{event}…).
// The files of src/ are plain browser scripts, copied as they are, except those that
// import from ./player/: each is bundled with the modules it imports. The player itself is
// written as ES modules in src/player/ (unit-tested with `node --test`) and bundled here
// into one plain script, dist/player.js, so the pages load it like the others.
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const require = createRequire(import.meta.url);

// Bundles the ES module `entry` of `dir` and the modules it imports (relative imports of
// named exports only: `import { a, b } from './x.js'` or `'./sub/x.js'`,
// `export function|const|class`) into one script: each module runs once, in dependency
// order, in a scope of its own.
export function bundle(dir, entry) {
  const order = [];
  const seen = new Set();
  const modules = new Map();
  const visit = (file, chain) => {
    if (chain.includes(file)) throw new Error(`import cycle: ${[...chain, file].join(' → ')}`);
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(dir, file), 'utf8');
    const imports = [];
    const body = text.replace(
      /^import\s*\{([^}]*)\}\s*from\s*'\.\/([\w.-][\w./-]*\.js)';?[ \t]*$/gm,
      (_, names, path) => {
        // Relative to the importing module; a path that leaves `dir` is refused.
        const from = normalize(join(dirname(file), path));
        if (from.startsWith('..')) throw new Error(`${file}: ${path} is outside the bundled folder`);
        imports.push({ names: names.split(',').map((n) => n.trim()).filter(Boolean), from });
        return '';
      }
    );
    if (/^\s*(import|export\s+(default|\{|\*))\b/m.test(body)) {
      throw new Error(`${file}: only named imports from './x.js' and \`export function|const|class\` are bundled`);
    }
    const exports = [...body.matchAll(/^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+([\w$]+)/gm)].map((m) => m[1]);
    for (const i of imports) visit(i.from, [...chain, file]);
    modules.set(file, { body: body.replace(/^export\s+/gm, ''), imports, exports });
    order.push(file);
  };
  visit(entry, []);
  const id = (file) => '$' + file.replace(/\W/g, '_');
  let out = "(function () {\n  'use strict';\n";
  for (const file of order) {
    const m = modules.get(file);
    for (const i of m.imports) {
      const missing = i.names.filter((n) => !modules.get(i.from).exports.includes(n));
      if (missing.length) throw new Error(`${file}: ${i.from} does not export ${missing.join(', ')}`);
    }
    const bindings = m.imports.map((i) => `const { ${i.names.join(', ')} } = ${id(i.from)};\n`).join('');
    out += `  // ---- ${file}\n  const ${id(file)} = (function () {\n${bindings}${m.body}\nreturn { ${m.exports.join(', ')} };\n  })();\n`;
  }
  return out + '})();\n';
}

function build() {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });

  const files = [];
  for (const name of readdirSync(src)) {
    const from = join(src, name);
    if (!statSync(from).isFile()) continue;
    if (name.endsWith('.js') && /^import\s*\{/m.test(readFileSync(from, 'utf8'))) {
      writeFileSync(join(dist, name), bundle(src, name));
    } else {
      cpSync(from, join(dist, name));
    }
    files.push(name);
  }
  writeFileSync(join(dist, 'player.js'), bundle(join(src, 'player'), 'main.js'));
  files.push('player.js');
  cpSync(require.resolve('hls.js/dist/hls.min.js'), join(dist, 'hls.min.js'));
  files.push('hls.min.js');

  const { version } = require('hls.js/package.json');
  console.log(`player: built ${files.length} files into dist/ (hls.js ${version}): ${files.sort().join(', ')}`);
}

// `node build.mjs` builds; importing this file (the bundler's tests) does not.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) build();
