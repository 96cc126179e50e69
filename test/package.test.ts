// The package as a user imports it: a plain Node ESM script, `import ... from 'simclr'`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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

test('npm pack: the tarball holds what the package needs and nothing else, and installs into a new project', { timeout: 900_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'simclr-pack-'));
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })) as [{ filename: string; files: { path: string }[] }];
  const files = packed.files.map((f) => f.path);
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'scripts/libtorch.cjs', 'native/addon.cc', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js']) {
    assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
  }
  const allowed = /^(package\.json|README\.md|LICENSE|binding\.gyp|scripts\/libtorch\.cjs|native\/[\w.]+\.(cc|h)|dist\/src\/[\w/.-]+\.(js|d\.ts))$/;
  assert.deepEqual(files.filter((f) => !allowed.test(f)), [], 'the tarball holds files the package does not need');

  // A new project installs the tarball (npm builds the addon: newer npm runs a dependency's install script only when the
  // project's allowScripts names it) and @types/node, as a TypeScript user's would.
  const project = join(dir, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', allowScripts: { simclr: true } }));
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, lib: ['ES2022', 'ESNext.Disposable'], types: ['node'] } }));
  writeFileSync(
    join(project, 'main.ts'),
    `import { resnet, randn, tidy, memory, type Tensor } from 'simclr';
const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.25 }).eval();
const shape: number[] = tidy(() => {
  const h: Tensor = encoder.forward(randn([2, 3, 32, 32]));
  return h.shape;
});
encoder.dispose();
console.log(JSON.stringify({ shape, live: memory().tensors }));
`,
  );
  const typesVersion = JSON.parse(readFileSync(join(root, 'node_modules', '@types', 'node', 'package.json'), 'utf8')).version;
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(dir, packed.filename), `@types/node@${typesVersion}`], { cwd: project, stdio: 'pipe' });
  // The types come with the package: a type error in main.ts would fail here.
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: project, stdio: 'pipe' });
  const out = JSON.parse(execFileSync(process.execPath, ['main.js'], { cwd: project, encoding: 'utf8' }));
  assert.deepEqual(out, { shape: [2, 128], live: 0 });
  // The CLI is on the project's PATH.
  const help = execFileSync('npx', ['--no-install', 'simclr', '--help'], { cwd: project, encoding: 'utf8' });
  assert.match(help, /^usage: simclr <command> \[flags\]/);
  assert.match(help, /\n {2}pretrain {3}/);
});
