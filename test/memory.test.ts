// A long synchronous training loop inside tidy() must not grow: neither live tensors nor RSS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { F, Tensor, memory, noGrad, randn, tidy, manualSeed } from '../src/index.js';
import { collectGarbage, repoRoot } from './helpers.js';

const index = join(repoRoot, 'dist', 'src', 'index.js');

test('10,000 forward+backward steps of a small conv net keep memory flat', () => {
  manualSeed(0);
  const params: Tensor[] = [randn([4, 1, 3, 3]), randn([4]), randn([8, 4, 3, 3]), randn([8]), randn([10, 8]), randn([10])];
  for (const p of params) p.mul_(0.1).requiresGrad_(true);
  const x = randn([2, 1, 8, 8]);
  const scores = randn([2, 10]);
  const labels = scores.argmax(1);
  scores.dispose();
  // From step 1,000 on the allocator has its blocks; a handle that outlived its step (its finalizer
  // deferred past a synchronous loop) grew RSS by ~4 MB per 1,000 steps here.
  let atStep1000 = { tensors: 0, bytes: 0, rss: 0 };
  collectGarbage();
  const start = memory();
  for (let step = 1; step <= 10_000; step++) {
    tidy(() => {
      const [w1, b1, w2, b2, w3, b3] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      const h1 = F.relu(F.conv2d(x, w1, b1, { padding: 1 }));
      const h2 = F.relu(F.conv2d(h1, w2, b2, { stride: 2, padding: 1 }));
      const logits = F.linear(F.adaptiveAvgPool2d(h2, 1).flatten(1), w3, b3);
      F.crossEntropy(logits, labels).backward();
      noGrad(() => {
        for (const p of params) {
          const g = p.grad!;
          p.sub_(g, 0.01);
          g.zero_();
        }
      });
    });
    if (step === 1000) atStep1000 = { ...memory(), rss: process.memoryUsage().rss };
  }
  const end = memory();
  const rss = process.memoryUsage().rss;
  // The parameters' gradients appear after the first step; after that nothing may be added.
  assert.equal(end.tensors, atStep1000.tensors);
  assert.equal(end.bytes, atStep1000.bytes);
  assert.equal(end.tensors, start.tensors);
  const growth = (rss - atStep1000.rss) / 2 ** 20;
  assert.ok(growth < 16, `RSS grew ${growth.toFixed(1)} MB from step 1,000 to 10,000`);
});

test('the idle-block limit: SIMCLR_CACHE_LIMIT_MB, else a quarter of what the machine or its cgroup allows', () => {
  const limitWith = (env: Record<string, string>) =>
    Number(execFileSync(process.execPath, ['--input-type=module', '-e', `import { memory } from ${JSON.stringify(index)}; console.log(memory().cacheLimit)`], { encoding: 'utf8', env: { ...process.env, ...env } }));
  assert.equal(limitWith({ SIMCLR_CACHE_LIMIT_MB: '64' }), 64 * 2 ** 20);
  const physical = totalmem();
  const cgroup = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']
    .filter((f) => existsSync(f))
    .map((f) => Number(readFileSync(f, 'utf8').trim()))
    .filter((v) => Number.isFinite(v) && v > 0);
  const usable = Math.min(physical, ...cgroup);
  assert.ok(Math.abs(memory().cacheLimit - usable / 4) < 2 ** 20, `${memory().cacheLimit} vs ${usable / 4}`);
});

test('tensors still alive at exit, and a worker_thread that loads the addon, end cleanly', () => {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { randn } from ${JSON.stringify(index)};
    globalThis.kept = Array.from({ length: 50 }, () => randn([300, 1000]));
    const worker = new Worker('import(${JSON.stringify(index)}).then(() => console.log("loaded"), (e) => console.log("refused: " + e.message))', { eval: true });
    worker.on('exit', () => console.log('worker done'));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /refused: simclr's native addon is already in use by another JS thread of this process/);
  assert.match(result.stdout, /worker done/);
  assert.equal(result.stderr, '');
});
