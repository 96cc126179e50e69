// The package as a user imports it: a plain Node ESM script, `import ... from 'simclr'`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

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
