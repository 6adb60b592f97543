// The bundler of build.mjs: modules run once, in dependency order, each in its own
// scope, and the result is one plain script.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import vm from 'node:vm';
import { bundle } from '../build.mjs';

function modules(files) {
  const dir = mkdtempSync(join(tmpdir(), 'amphi-bundle-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('bundles in dependency order with one scope per module', () => {
  const dir = modules({
    'main.js': "import { twice } from './b.js';\nimport {\n  base,\n} from './a.js';\nconst local = 'main';\nglobalThis.out.push(local + ':' + twice(base));\n",
    'a.js': "const local = 'a';\nexport const base = 21;\nglobalThis.out.push(local);\n",
    'b.js': "import { base } from './a.js';\nconst local = 'b';\nexport function twice(x) {\n  return x * 2 + base - base;\n}\nglobalThis.out.push(local);\n",
  });
  try {
    const code = bundle(dir, 'main.js');
    const context = { out: [] };
    vm.runInNewContext(code, context);
    assert.deepEqual(context.out, ['a', 'b', 'main:42']);
    assert.doesNotMatch(code, /^\s*(import|export)\b/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('refuses cycles, missing exports and module forms it does not bundle', () => {
  const cases = [
    [{ 'main.js': "import { x } from './a.js';\n", 'a.js': "import { y } from './main.js';\nexport const x = 1;\n" }, /cycle/],
    [{ 'main.js': "import { nope } from './a.js';\n", 'a.js': 'export const x = 1;\n' }, /does not export nope/],
    [{ 'main.js': 'export default 1;\n' }, /only named imports/],
    [{ 'main.js': "import x from './a.js';\n", 'a.js': '' }, /only named imports/],
  ];
  for (const [files, error] of cases) {
    const dir = modules(files);
    try {
      assert.throws(() => bundle(dir, 'main.js'), error);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('the player bundles', () => {
  const code = bundle(new URL('../src/player/', import.meta.url).pathname, 'main.js');
  assert.doesNotThrow(() => new vm.Script(code));
});

test('a page script bundles a module of a subfolder, whose own imports are its neighbours', () => {
  const dir = modules({ 'page.js': "import { id } from './sub/x.js';\nglobalThis.out.push(id());\n" });
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'x.js'), "import { y } from './y.js';\nexport function id() {\n  return 'x' + y;\n}\n");
  writeFileSync(join(dir, 'sub', 'y.js'), 'export const y = 1;\n');
  try {
    const context = { out: [] };
    vm.runInNewContext(bundle(dir, 'page.js'), context);
    assert.deepEqual(context.out, ['x1']);
    writeFileSync(join(dir, 'sub', 'y.js'), "import { z } from './../../z.js';\nexport const y = z;\n");
    assert.throws(() => bundle(dir, 'page.js'), /outside the bundled folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
