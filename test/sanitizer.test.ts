// Native teardown under AddressSanitizer: the addon built with -fsanitize=address (into a temporary
// folder) and loaded by node with libasan preloaded, so that a use of freed memory in the addon's
// code is reported instead of passing silently.
// A worker that exits with its process group alive (no destroy) while the heartbeat watchdog runs:
// static destruction used to run under the watchdog, which then read destroyed statics (the
// heartbeat key) and, before it owned its group, the freed group.
// A tensor freed after main returns (test/native/allocator-exit.cc): the caching allocator, which
// libtorch holds by raw pointer, must outlive every static that may still own a tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/distributed/launch.js';
import { repoRoot } from './helpers.js';

/** The addon built with AddressSanitizer: its path, and the runtime to preload. */
function sanitizedAddon(): { addon: string; libasan: string } {
  const dir = mkdtempSync(join(tmpdir(), 'simclr-asan-'));
  for (const path of ['binding.gyp', 'native', 'scripts/libtorch.cjs']) cpSync(join(repoRoot, path), join(dir, path), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'build'), { recursive: true });
  const flags = '-fsanitize=address -fno-omit-frame-pointer';
  const build = spawnSync('npx', ['--no-install', 'node-gyp', 'rebuild', '--loglevel=error', '--jobs', String(availableParallelism())], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CXXFLAGS: flags, LDFLAGS: '-fsanitize=address' },
  });
  assert.equal(build.status, 0, build.stderr);
  const libasan = spawnSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
  return { addon: join(dir, 'build', 'Release', 'simclr.node'), libasan };
}

/** The allocator teardown program built with AddressSanitizer against native/allocator.cc. */
function sanitizedAllocatorExit(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'simclr-asan-')), 'allocator-exit');
  const libtorch = (what: string) => spawnSync(process.execPath, [join(repoRoot, 'scripts/libtorch.cjs'), what], { encoding: 'utf8' }).stdout.trim().split(/\s+/);
  const napi = join(repoRoot, 'node_modules/node-addon-api');
  const nodeHeaders = join(process.execPath, '../../include/node');
  const args = [
    ...['-std=c++17', '-O1', '-fsanitize=address', '-fno-omit-frame-pointer', '-ffunction-sections', '-DNAPI_CPP_EXCEPTIONS', '-DNAPI_VERSION=8', ...libtorch('cflags')],
    ...[...libtorch('include'), napi, nodeHeaders, join(repoRoot, 'native')].map((dir) => `-I${dir}`),
    ...[join(repoRoot, 'test/native/allocator-exit.cc'), join(repoRoot, 'native/allocator.cc'), '-o', out],
    // The allocator's Node-API entry points are not called here: drop them rather than link node.
    ...[...libtorch('libs'), '-Wl,--gc-sections'],
  ];
  const build = spawnSync('g++', args, { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  return out;
}

/** Runs `script` (CommonJS, `addon` in scope) in a node with libasan preloaded; resolves with its exit code and stderr. */
function sanitized(libasan: string, addon: string, script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', `const addon = require(${JSON.stringify(addon)});\n${script}`], {
      env: { ...process.env, LD_PRELOAD: libasan, ASAN_OPTIONS: 'detect_leaks=0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('a worker exiting with its process group alive: no use of freed memory under the watchdog', { timeout: 600_000 }, async () => {
  const { addon, libasan } = sanitizedAddon();
  // The check is real only if libasan is in the process.
  const probe = await sanitized(libasan, addon, "process.stderr.write(require('fs').readFileSync('/proc/self/maps', 'utf8').includes('libasan') ? 'asan' : 'none')");
  assert.equal(probe.stderr, 'asan');
  for (let round = 0; round < 3; round++) {
    const port = await freePort();
    // Both workers join, the watchdog beats every 100 ms, and each exits 300 ms later without a destroy.
    const worker = (rank: number) =>
      sanitized(libasan, addon, `addon.distInit({ host: '127.0.0.1', port: ${port}, rank: ${rank}, size: 2, bind: '127.0.0.1', timeoutMs: 30000, heartbeatMs: 100, staleMs: 1000 });\nsetTimeout(() => process.exit(0), 300);`);
    for (const { code, stderr } of await Promise.all([worker(0), worker(1)])) {
      assert.doesNotMatch(stderr, /AddressSanitizer/, stderr);
      assert.equal(code, 0, stderr);
    }
  }
});

test('a tensor freed during static destruction finds the caching allocator alive', { timeout: 300_000 }, () => {
  const program = sanitizedAllocatorExit();
  const run = spawnSync(program, { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
  assert.doesNotMatch(run.stderr, /AddressSanitizer/, run.stderr);
  assert.equal(run.status, 0, run.stderr);
});
