// Pretraining: exact resume, gradient caching, NaN stop, kill-safe checkpoints, signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSafetensors, manualSeed, randn, tidy, nn, ProjectionHead, type Tensor } from '../src/index.js';
import { pretrainFlags, resolveConfig } from '../src/cli/pretrain-flags.js';
import type { PretrainConfig } from '../src/simclr/config.js';
import { parseFlags } from '../src/cli/args.js';
import { pretrain } from '../src/simclr/pretrain.js';
import { contrastiveStep } from '../src/simclr/step.js';
import { SimCLRModel } from '../src/simclr/model.js';
import { listCheckpoints } from '../src/simclr/checkpoint.js';
import { repoRoot, stepLosses } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-pretrain-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function config(out: string, overrides: Partial<PretrainConfig> = {}): PretrainConfig {
  const defaults = resolveConfig(Object.fromEntries(Object.entries(pretrainFlags).map(([k, v]) => [k, v.default])), new Set());
  return { ...defaults, subset: 384, batchSize: 96, epochs: 2, width: 0.125, knnEvery: 0, threads: 2, precision: 'fp32', out, ...overrides };
}


test('resume: 2 epochs straight equal 1 epoch, stop, --resume, 1 more (losses and weights)', async () => {
  const straight = await pretrain(config(join(base, 'straight')), { log: null, handleSignals: false });
  const first = await pretrain(config(join(base, 'resumed'), { stopEpoch: 1 }), { log: null, handleSignals: false });
  assert.equal(first.stopped, 'stop-epoch');
  first.model.dispose();
  const second = await pretrain(config(join(base, 'resumed')), { resume: true, log: null, handleSignals: false });
  assert.equal(second.stopped, 'completed');
  const a = stepLosses(join(base, 'straight'));
  const b = stepLosses(join(base, 'resumed'));
  assert.equal(a.length, 8);
  assert.deepEqual(b, a);
  for (const [key, t] of straight.model.stateDict()) {
    const other = second.model.stateDict().get(key)!;
    assert.equal(tidy(() => t.sub(other).abs().amax().item()), 0, key);
  }
  straight.model.dispose();
  second.model.dispose();
});

test('gradient caching: chunked gradients equal the direct ones (BN in eval mode)', () => {
  manualSeed(3);
  tidy(() => {
    const encoder = new nn.Sequential(new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.AdaptiveAvgPool2d(1), new nn.Flatten());
    const model = new SimCLRModel(encoder, new ProjectionHead({ inputDim: 4, hiddenDim: 8, outputDim: 5 })).to({ dtype: 'float64' });
    model.eval();
    const views = randn([24, 1, 6, 6], { dtype: 'float64' });
    const grads = (chunk: number): Tensor[] => {
      model.zeroGrad();
      contrastiveStep(model, views, 0.5, chunk, false);
      return model.parameters().map((p) => p.grad!.clone());
    };
    const direct = grads(0);
    for (const chunk of [5, 8]) {
      grads(chunk).forEach((g, i) => {
        const err = g.sub(direct[i]!).abs().amax().item() / Math.max(1e-12, direct[i]!.abs().amax().item());
        assert.ok(err < 1e-5, `chunk ${chunk}, parameter ${i}: ${err}`);
      });
    }
    model.dispose();
  });
});

test('SIGKILL while a checkpoint is written leaves the previous one loadable', async () => {
  const file = join(base, 'kill', 'ckpt.safetensors');
  const script = join(base, 'writer.mjs');
  writeFileSync(
    script,
    `import { mkdirSync } from 'node:fs';
     import { dirname } from 'node:path';
     import { full, saveSafetensors, tidy } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'index.js'))};
     mkdirSync(dirname(${JSON.stringify(file)}), { recursive: true });
     for (let i = 1; ; i++) tidy(() => saveSafetensors(${JSON.stringify(file)}, { w: full([8_000_000], i) }, { i: String(i) }));`,
  );
  for (let round = 0; round < 3; round++) {
    const child = spawn(process.execPath, [script], { stdio: 'ignore' });
    while (!existsSync(file)) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 150 + 97 * round));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const { tensors, metadata } = loadSafetensors(file);
    const w = tensors.get('w')!;
    tidy(() => {
      assert.equal(w.amin().item(), Number(metadata.i));
      assert.equal(w.amax().item(), Number(metadata.i));
    });
    w.dispose();
  }
});

test('SIGINT writes a checkpoint and exits 0; --resume finishes the run', () => {
  const out = join(base, 'sigint');
  const args = [cli, 'pretrain', '--subset', '1024', '--batch-size', '32', '--epochs', '1', '--width', '0.125', '--knn-every', '0', '--out', out];
  const child = spawnSync(process.execPath, ['-e', `
    const { spawn } = require('node:child_process');
    const p = spawn(process.execPath, ${JSON.stringify(args)}, { stdio: ['ignore', 'pipe', 'pipe'] });
    let sent = false, out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => { if (!sent && /step 6\\//.test(String(d))) { sent = true; p.kill('SIGINT'); } });
    p.on('exit', (code) => { console.log(JSON.stringify({ code, out })); });
  `], { encoding: 'utf8' });
  const { code, out: stdout } = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
  assert.equal(code, 0);
  const summary = JSON.parse(stdout);
  assert.equal(summary.stopped, 'signal');
  assert.ok(summary.step > 0 && summary.step < 32);
  assert.equal(listCheckpoints(out).length, 1);
  const resumed = spawnSync(process.execPath, [cli, 'pretrain', '--resume', '--epochs', '1', '--out', out], { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout).stopped, 'completed');
  assert.equal(stepLosses(out).length, 32);
});

test('the CLI names a bad flag or value, and --help lists every flag with its default', () => {
  const unknown = spawnSync(process.execPath, [cli, 'pretrain', '--epoch', '3'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown flag --epoch/);
  const bad = spawnSync(process.execPath, [cli, 'pretrain', '--batch-size', 'big'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--batch-size expects a number \(got 'big'\)/);
  const huge = spawnSync(process.execPath, [cli, 'pretrain', '--seed', '1e300'], { encoding: 'utf8' });
  assert.match(huge.stderr, /--seed expects an integer within ±2\^53 \(got '1e300'\)/);
  const negative = spawnSync(process.execPath, [cli, 'pretrain', '--temperature', '-1'], { encoding: 'utf8' });
  assert.match(negative.stderr, /--temperature must be positive/);
  const help = spawnSync(process.execPath, [cli, 'pretrain', '--help'], { encoding: 'utf8' });
  for (const [flag, spec] of Object.entries(pretrainFlags)) {
    const shown = 'defaultText' in spec ? spec.defaultText : String(spec.default);
    // (a flag too long for the column has its help on the next line)
    assert.match(help.stdout, new RegExp(`--${flag} <[^>]+>\\n? +[^\\n]*default: ${shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), flag);
  }
  // The help column is aligned: every help text starts at the same column.
  const helpLines = help.stdout.split('\n').filter((l) => l.startsWith('  '));
  const starts = new Set(
    helpLines
      .filter((l) => !/^ {2}--\S+ <[^>]+>$/.test(l)) // a flag whose help is on the next line
      .map((l) => (l.trimStart().startsWith('--') ? (/^ {2}--\S+ <[^>]+> {2,}/.exec(l)?.[0].length ?? -1) : l.length - l.trimStart().length)),
  );
  assert.equal(starts.size, 1, `help starts at columns ${[...starts].join(', ')}`);
  const badConfig = join(base, 'bad.yaml');
  writeFileSync(badConfig, 'epochs: three\n');
  const fromFile = spawnSync(process.execPath, [cli, 'pretrain', '--config', badConfig], { encoding: 'utf8' });
  assert.equal(fromFile.status, 1);
  assert.match(fromFile.stderr, /bad\.yaml: 'epochs' must be an integer \(got "three"\)/);
});

test('pretrain and eval end to end on a folder of colour images', async () => {
  const sharp = (await import('sharp')).default;
  const root = join(base, 'colour');
  for (const [split, count] of [['train', 48], ['test', 16]] as const) {
    for (const [cls, rgb] of [['warm', [220, 60, 30]], ['cool', [30, 80, 220]]] as const) {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(root, split, cls), { recursive: true });
      for (let i = 0; i < count / 2; i++) {
        const jitter = (v: number) => Math.max(0, Math.min(255, v + ((i * 37) % 41) - 20));
        await sharp({ create: { width: 40, height: 36, channels: 3, background: { r: jitter(rgb[0]), g: jitter(rgb[1]), b: jitter(rgb[2]) } } })
          .jpeg()
          .toFile(join(root, split, cls, `${i}.jpg`));
      }
    }
  }
  const out = join(base, 'colour-run');
  const env = { ...process.env, XDG_CACHE_HOME: join(base, 'xdg') };
  const trained = spawnSync(process.execPath, [cli, 'pretrain', '--data', root, '--image-size', '32', '--batch-size', '16', '--epochs', '1', '--width', '0.125', '--strength', '0.5', '--out', out], { encoding: 'utf8', env });
  assert.equal(trained.status, 0, trained.stderr);
  assert.equal(JSON.parse(trained.stdout).stopped, 'completed');
  for (const protocol of ['knn', 'linear']) {
    const evaluated = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', out, '--protocol', protocol], { encoding: 'utf8', env });
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const r = JSON.parse(evaluated.stdout);
    assert.equal(r.test, 16);
    assert.ok(r.accuracy >= 0.9, `${protocol}: ${r.accuracy}`); // the colours separate the classes
    assert.ok(existsSync(join(out, `eval-${protocol}.json`)));
  }
  for (const headLayer of ['0', '1']) {
    const tuned = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', out, '--protocol', 'finetune', '--fraction', '0.5', '--draws', '2', '--epochs', '2', '--batch-size', '8', '--head-layer', headLayer], { encoding: 'utf8', env });
    assert.equal(tuned.status, 0, tuned.stderr);
    const r = JSON.parse(tuned.stdout);
    assert.equal(r.trainImages, 24);
    assert.equal(r.accuracies.length, 2);
    assert.ok(r.accuracy >= 0 && r.accuracy <= 1);
  }
  const embedded = spawnSync(process.execPath, [cli, 'embed', '--checkpoint', out, '--split', 'test', '--z', '--out', join(out, 'f.safetensors')], { encoding: 'utf8', env });
  assert.equal(embedded.status, 0, embedded.stderr);
  const { tensors } = loadSafetensors(join(out, 'f.safetensors'));
  assert.deepEqual(tensors.get('h')!.shape, [16, 64]);
  assert.deepEqual(tensors.get('z')!.shape, [16, 128]);
  assert.deepEqual(tensors.get('labels')!.shape, [16]);
  for (const t of tensors.values()) t.dispose();
});

test('boolean flags take an explicit true or false, as --help\'s <boolean> says', () => {
  const parsed = parseFlags(['--resume', 'false', '--skip-bad', 'true', '--report', '--channels-last=false', '--epochs', '2'], pretrainFlags, 'pretrain');
  assert.equal(parsed.resume, false);
  assert.equal(parsed['skip-bad'], true);
  assert.equal(parsed.report, true);
  assert.equal(parsed['channels-last'], false);
  assert.equal(parsed.epochs, 2);
  assert.throws(() => parseFlags(['--report', 'yes'], pretrainFlags, 'pretrain'), /unexpected argument 'yes'/);
});
