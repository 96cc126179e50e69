// Data-parallel pretraining on loopback: 2 workers × batch B equal 1 worker × batch 2B (with the
// gather and global BN), the gather is real, a killed worker is named, and runs resume across
// worker counts. Plus the pieces: loader shards, augmentation shares, NT-Xent anchor shares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { freePort } from '../src/distributed/launch.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSafetensors, randn, tensor, tidy, noGrad, ntXentLoss, grad, type Tensor } from '../src/index.js';
import { Loader } from '../src/data/loader.js';
import { FrameSource, MemorySource } from '../src/data/source.js';
import { packFrames } from '../src/data/folder.js';
import { Random } from '../src/random.js';
import { SimCLRAugmentation } from '../src/augment/simclr-augmentation.js';
import { listCheckpoints } from '../src/simclr/checkpoint.js';
import { repoRoot, stepLosses } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-distributed-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
// 3 steps of a global batch of 16 on a narrow ResNet-18 (LARS: no Adam sign flips on tiny gradients).
// Row-major layout: in channels-last, libtorch's own BatchNorm (one worker) sums its statistics in
// float32, 4e-6 away from global BN's after one step, which 3 steps at lr 0.3 amplify past 1e-5.
// τ 0.5 (not the default 0.2, whose sharper loss amplifies float rounding 2.5× more) keeps the
// tolerances calibrated; no report (the runs are too short to look at).
const recipe = ['--subset', '48', '--batch-size', '16', '--epochs', '1', '--width', '0.125', '--optimizer', 'lars', '--lr', '0.3', '--temperature', '0.5', '--warmup-epochs', '0', '--knn-every', '0', '--threads', '1', '--no-channels-last', '--no-report', '--precision', 'fp32'];

function pretrainCli(out: string, args: string[]): void {
  const r = spawnSync(process.execPath, [cli, 'pretrain', ...recipe, ...args, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}


function maxWeightDifference(a: string, b: string): number {
  const x = loadSafetensors(a).tensors;
  const y = loadSafetensors(b).tensors;
  assert.deepEqual([...x.keys()].sort(), [...y.keys()].sort());
  let worst = 0;
  for (const [key, t] of x) worst = Math.max(worst, tidy(() => t.double().sub(y.get(key)!.double()).abs().amax().item()));
  for (const t of [...x.values(), ...y.values()]) t.dispose();
  return worst;
}

const close = (a: number[], b: number[], tolerance: number) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= tolerance);

test('2 workers × batch 8 equal 1 worker × batch 16 after 3 steps (gather and global BN); without the gather they differ', () => {
  pretrainCli(join(base, 'one'), []);
  pretrainCli(join(base, 'two'), ['--nproc', '2']);
  pretrainCli(join(base, 'two-local'), ['--nproc', '2', '--no-gather']);
  pretrainCli(join(base, 'two-local-bn'), ['--nproc', '2', '--no-sync-bn']);
  const one = stepLosses(join(base, 'one'));
  const two = stepLosses(join(base, 'two'));
  assert.equal(one.length, 3);
  assert.ok(close(one, two, 1e-5), `losses ${one} vs ${two}`);
  const weights = maxWeightDifference(listCheckpoints(join(base, 'one'))[0]!, listCheckpoints(join(base, 'two'))[0]!);
  assert.ok(weights <= 1e-5, `weights differ by ${weights}`);
  // Each worker's own 8 images: 14 negatives per anchor instead of 30, a lower loss from step 1 on.
  const local = stepLosses(join(base, 'two-local'));
  assert.ok(one[0]! - local[0]! > 0.3, `gathered ${one[0]} vs local ${local[0]}`);
  // Per-worker BatchNorm statistics change the forward pass from the first step on.
  assert.ok(Math.abs(stepLosses(join(base, 'two-local-bn'))[0]! - one[0]!) > 1e-3);
  const perWorkerBn = maxWeightDifference(listCheckpoints(join(base, 'one'))[0]!, listCheckpoints(join(base, 'two-local-bn'))[0]!);
  assert.ok(perWorkerBn > 1e-3, `per-worker BN changed the weights by only ${perWorkerBn}`);
  // The default channels-last layout: the same first loss, to float32 summation error.
  pretrainCli(join(base, 'two-channels-last'), ['--nproc', '2', '--channels-last']);
  assert.ok(Math.abs(stepLosses(join(base, 'two-channels-last'))[0]! - one[0]!) < 1e-4);
});

test('a run with 2 workers resumes with 2 workers, then with 1 (same global batch): the losses of a straight run', () => {
  const epochs = ['--epochs', '3'];
  pretrainCli(join(base, 'straight'), [...epochs, '--nproc', '2']);
  const resumed = join(base, 'resumed');
  pretrainCli(resumed, [...epochs, '--nproc', '2', '--stop-epoch', '1']);
  pretrainCli(resumed, [...epochs, '--nproc', '2', '--stop-epoch', '2', '--resume']);
  pretrainCli(resumed, [...epochs, '--resume']);
  const a = stepLosses(join(base, 'straight'));
  const b = stepLosses(resumed);
  assert.equal(a.length, 9);
  assert.ok(close(a, b, 1e-5), `losses ${a} vs ${b}`);
  const weights = maxWeightDifference(join(base, 'straight', 'encoder.safetensors'), join(resumed, 'encoder.safetensors'));
  assert.ok(weights <= 1e-5, `weights differ by ${weights}`);
});

test('SIGINT to one worker stops both at the same step (the flag rides on the gradients\' collective); --resume finishes the run', () => {
  const out = join(base, 'sigint-one');
  const args = [cli, 'pretrain', ...recipe.map((a) => (a === '48' ? '480' : a)), '--nproc', '2', '--out', out];
  // The launcher's workers are its children: the signal goes to one of them only.
  const child = spawnSync(process.execPath, ['-e', `
    const { spawn, execFileSync } = require('node:child_process');
    const p = spawn(process.execPath, ${JSON.stringify(args)}, { stdio: ['ignore', 'pipe', 'pipe'] });
    let sent = false, out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => {
      if (sent || !/step 6\\//.test(String(d))) return;
      sent = true;
      const workers = execFileSync('pgrep', ['-P', String(p.pid)], { encoding: 'utf8' }).trim().split('\\n');
      process.kill(Number(workers.at(-1)), 'SIGINT');
    });
    p.on('exit', (code) => console.log(JSON.stringify({ code, sent, out })));
  `], { encoding: 'utf8', timeout: 120_000 });
  const { code, sent, out: stdout } = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
  assert.ok(sent, 'the signal was sent');
  assert.equal(code, 0, child.stderr);
  const summary = JSON.parse(stdout);
  assert.equal(summary.stopped, 'signal');
  assert.ok(summary.step > 0 && summary.step < 30, `stopped at step ${summary.step}`);
  assert.equal(listCheckpoints(out).length, 1);
  const resumed = spawnSync(process.execPath, [cli, 'pretrain', ...recipe.map((a) => (a === '48' ? '480' : a)), '--nproc', '2', '--resume', '--out', out], { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout.trim().split('\n').at(-1)!).stopped, 'completed');
  assert.equal(stepLosses(out).length, 30);
});

test('SIGKILL of one worker: the other exits non-zero within 60 s, naming the lost rank', async () => {
  const out = join(base, 'killed');
  const port = await freePort();
  const args = [cli, 'pretrain', ...recipe, '--subset', '4000', '--epochs', '2', '--out', out];
  const workers = [0, 1].map((rank) =>
    spawn(process.execPath, args, { env: { ...process.env, WORLD_SIZE: '2', RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] }),
  );
  let stderr = '';
  workers[0]!.stderr!.on('data', (d) => (stderr += d));
  workers[1]!.stderr!.resume();
  const exited = new Promise<number | null>((resolve) => workers[0]!.on('exit', (code) => resolve(code)));
  const metrics = join(out, 'metrics.jsonl');
  let early: number | null | undefined;
  void exited.then((c) => (early = c));
  while (!existsSync(metrics) || !readFileSync(metrics, 'utf8').includes('"step":3')) {
    assert.equal(early, undefined, `rank 0 exited (code ${early}) before step 3:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  workers[1]!.kill('SIGKILL');
  const killedAt = Date.now();
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000).unref());
  const code = await Promise.race([exited, timeout]);
  if (code === 'timeout') workers[0]!.kill('SIGKILL');
  assert.notEqual(code, 'timeout', 'the surviving worker hung');
  assert.notEqual(code, 0);
  assert.match(stderr, /worker rank 1 was lost/);
  assert.ok(Date.now() - killedAt < 60_000);
});

test('loader shards: the workers\' slices of each global batch are disjoint and make up the single-worker batch', () => {
  const source = new MemorySource(tensor(new Uint8Array(50), { shape: [50, 1, 1, 1] }), null, null, 'test');
  const whole = new Loader(source, { batchSize: 12, seed: 4 });
  const shards = [0, 1, 2].map((rank) => new Loader(source, { batchSize: 12, seed: 4, shard: { rank, count: 3 } }));
  assert.equal(shards[0]!.stepsPerEpoch, whole.stepsPerEpoch);
  for (const step of [0, 3]) {
    const parts = shards.map((l) => [...l.indices(2, step)]);
    assert.deepEqual(parts.flat(), [...whole.indices(2, step)]);
    assert.ok(parts.every((p) => p.length === 4));
  }
  assert.throws(() => new Loader(source, { batchSize: 10, shard: { rank: 0, count: 3 } }), /cannot be split evenly/);
  source.dispose();
});

test('augmentation shares: a worker\'s views of its images are the single-worker views of the same images', () => {
  tidy(() => {
    const images = tensor(Uint8Array.from({ length: 6 * 3 * 8 * 8 }, (_, i) => (i * 37) % 256), { shape: [6, 3, 8, 8] });
    const augmentation = new SimCLRAugmentation({ size: 8 });
    const whole = augmentation.pair(images, new Random(1, 2));
    const part = augmentation.pair(images.narrow(0, 2, 2), new Random(1, 2), { offset: 2, total: 6 });
    const expected = [2, 3, 8, 9].map((i) => whole.narrow(0, i, 1));
    for (let i = 0; i < 4; i++) assert.equal(part.narrow(0, i, 1).sub(expected[i]!).abs().amax().item(), 0);
  });
});

test('frames of different sizes: a worker\'s views are the single-worker views, its loader giving the global batch\'s sizes', async () => {
  const dims = [[20, 30], [40, 12], [16, 16], [33, 21], [25, 40], [18, 27], [30, 30], [12, 44]] as const;
  const decoded = dims.map(([width, height], i) => ({ data: Buffer.from(Uint8Array.from({ length: width * height * 3 }, (_, k) => (k * 31 + i * 17) % 256)), width, height }));
  const source = new FrameSource(packFrames(decoded, 3), 16, null, null, 'frames');
  const augmentation = new SimCLRAugmentation({ size: 16 });
  const first = async (loader: Loader) => {
    for await (const batch of loader.epoch(1)) return batch;
    throw new Error('no batch');
  };
  const whole = await first(new Loader(source, { batchSize: 8, seed: 2 }));
  const views = augmentation.pair(whole.frames, new Random(5));
  for (const rank of [0, 1]) {
    const batch = await first(new Loader(source, { batchSize: 8, seed: 2, shard: { rank, count: 2 } }));
    assert.deepEqual(batch.batchSizes, { widths: whole.frames.widths, heights: whole.frames.heights });
    const part = augmentation.pair(batch.frames, new Random(5), { offset: 4 * rank, total: 8, sizes: batch.batchSizes! });
    for (let i = 0; i < 4; i++) {
      for (const [row, wholeRow] of [[i, 4 * rank + i], [4 + i, 8 + 4 * rank + i]]) tidy(() => assert.equal(part.narrow(0, row!, 1).sub(views.narrow(0, wholeRow!, 1)).abs().amax().item(), 0, `rank ${rank} row ${row}`));
    }
    assert.throws(() => augmentation.pair(batch.frames, new Random(5), { offset: 4 * rank, total: 8 }), /sizes of the whole global batch/);
    part.dispose();
  }
  views.dispose();
  source.dispose();
});

test('NT-Xent anchor shares: the losses of disjoint anchor sets, and their gradients, add up to the full loss\'s', () => {
  tidy(() => {
    const z = randn([12, 5], { dtype: 'float64' }).requiresGrad_(true);
    const full = ntXentLoss(z, { temperature: 0.3 });
    const shares = [[0, 1, 6, 7], [2, 3, 4, 8, 9, 10], [5, 11]].map((rows) => ntXentLoss(z, { temperature: 0.3, anchors: tensor(Int32Array.from(rows), { dtype: 'int64' }) }));
    const sum = shares.reduce((a: Tensor, b) => a.add(b));
    assert.ok(Math.abs(sum.item() - full.item()) < 1e-12);
    const [g1] = grad(full, [z], { retainGraph: true });
    const [g2] = grad(sum, [z]);
    assert.ok(g1!.sub(g2!).abs().amax().item() < 1e-12);
  });
});

test('global BN on a group of one equals BatchNorm2d: output, input gradient, running statistics', async () => {
  const { ProcessGroup } = await import('../src/distributed/process-group.js');
  const { convertSyncBatchNorm } = await import('../src/distributed/data-parallel.js');
  const { nn } = await import('../src/index.js');
  const group = ProcessGroup.init({ masterAddr: '127.0.0.1', masterPort: await freePort(), rank: 0, worldSize: 1 });
  try {
    tidy(() => {
      const plain = new nn.BatchNorm2d(3).to({ dtype: 'float64' });
      const synced = new nn.BatchNorm2d(3).to({ dtype: 'float64' });
      convertSyncBatchNorm(synced, group);
      for (const bn of [plain, synced]) noGrad(() => bn.weight!.copy_(tensor([0.5, 2, -1], { dtype: 'float64' })));
      const x = randn([4, 3, 5, 5], { dtype: 'float64' }).mul(3).add(1);
      const weight = randn([4, 3, 5, 5], { dtype: 'float64' });
      const outputs = [plain, synced].map((bn) => {
        const input = x.detach().requiresGrad_(true);
        const y = bn.forward(input);
        const [g] = grad(y.mul(weight).sum(), [input]);
        return { y, g: g! };
      });
      assert.ok(outputs[0]!.y.sub(outputs[1]!.y).abs().amax().item() < 1e-12);
      assert.ok(outputs[0]!.g.sub(outputs[1]!.g).abs().amax().item() < 1e-12);
      assert.ok(plain.runningMean!.sub(synced.runningMean!).abs().amax().item() < 1e-12);
      assert.ok(plain.runningVar!.sub(synced.runningVar!).abs().amax().item() < 1e-12);
    });
  } finally {
    group.destroy();
  }
});
