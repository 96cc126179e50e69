// The package as a user imports it: a plain Node ESM script, `import ... from 'simclr'`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');

test("import { tensor, tidy, memory } from 'simclr' works from a plain ESM script", () => {
  const script = `
    import { tensor, tidy, memory } from 'simclr';
    const s = tidy(() => tensor([1, 2, 3]).mul(2).sum().item());
    console.log(JSON.stringify({ s, live: memory().tensors }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { s: 12, live: 0 });
});

test('the simclr command answers info', () => {
  const out = execFileSync(process.execPath, [join(root, 'dist', 'src', 'cli', 'main.js'), 'info'], { encoding: 'utf8' });
  const info = JSON.parse(out);
  assert.match(info.torchVersion, /^\d+\.\d+/);
  assert.ok(info.threads >= 1);
  assert.deepEqual(info.devices[0], 'cpu');
});

test('the package works from a folder whose path has a space and non-ASCII letters', () => {
  const copy = join(mkdtempSync(join(tmpdir(), 'simclr-path-')), 'my models ü');
  cpSync(join(root, 'dist', 'src'), join(copy, 'dist', 'src'), { recursive: true });
  cpSync(join(root, 'build', 'Release', 'simclr.node'), join(copy, 'build', 'Release', 'simclr.node'));
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const out = execFileSync(process.execPath, [join(copy, 'dist', 'src', 'cli', 'main.js'), 'info'], { encoding: 'utf8' });
  assert.ok(JSON.parse(out).threads >= 1);
});
