// Continued pretraining (pretrain --init): the exact weights from a run folder, a checkpoint, an
// encoder file and torchvision-named weights written by PyTorch (scripts/fixtures/make_init_fixture.py:
// h as PyTorch computed it); keys and shapes that do not fit refused by name, a partial load listing
// them; conv1 adapted 1 ↔ 3 channels giving a gray image the same h; an --init run resumed exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSafetensors, manualSeed, noGrad, rand, tidy, type Tensor } from '../src/index.js';
import { pretrainFlags, resolveConfig } from '../src/cli/pretrain-flags.js';
import type { PretrainConfig } from '../src/simclr/config.js';
import { pretrain } from '../src/simclr/pretrain.js';
import { buildModel, modelConfig, type SimCLRModel } from '../src/simclr/model.js';
import { listCheckpoints } from '../src/simclr/checkpoint.js';
import { initialiseFrom } from '../src/simclr/init.js';
import type { Module } from '../src/nn/module.js';
import { relativeError, repoRoot, stepLosses } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-init-'));
const fixture = join(repoRoot, 'test', 'fixtures', 'torchvision_r18_w0125.safetensors');

function config(out: string, overrides: Partial<PretrainConfig> = {}): PretrainConfig {
  const defaults = resolveConfig(Object.fromEntries(Object.entries(pretrainFlags).map(([k, v]) => [k, v.default])), new Set());
  return { ...defaults, subset: 384, batchSize: 96, epochs: 1, width: 0.125, cifarStem: true, knnEvery: 0, threads: 2, precision: 'fp32', out, ...overrides };
}

const model = (inChannels: number, width = 0.125) => buildModel(modelConfig({ ...config(''), cifarStem: true, width }, inChannels));
/** h in eval mode, channels-last (as pretraining leaves a model: the same layout, the same kernels). */
const h = (encoder: Module, x: Tensor) => {
  encoder.eval().to({ memoryFormat: 'channels_last' });
  return noGrad(() => encoder.forward(x));
};
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);

/** Every tensor of `m` equals the file's under `prefix`, exactly. */
function assertSameWeights(m: Module, file: string, prefix: string) {
  const { tensors } = loadSafetensors(file);
  for (const [key, t] of m.stateDict()) {
    const source = tensors.get(prefix + key);
    assert.ok(source !== undefined, `${prefix}${key} in ${file}`);
    assert.equal(tidy(() => t.sub(source.to(t.dtype)).abs().amax().item()), 0, key);
  }
  for (const t of tensors.values()) t.dispose();
}

test('init: torchvision-named weights from PyTorch: fc refused, then loaded partially, giving PyTorch\'s h; another width refused by shape', () => {
  const m = model(3);
  assert.throws(() => initialiseFrom(m, fixture), /torchvision_r18_w0125\.safetensors: does not fit the encoder being trained \(unexpected fc\.weight, fc\.bias\): --init-partial/);
  const record = initialiseFrom(m, fixture, { partial: true });
  assert.deepEqual(record.unused, ['fc.weight', 'fc.bias']);
  assert.deepEqual(record.fresh, []);
  assert.equal(record.loaded.encoder, m.encoder.stateDict().size);
  assert.equal(record.sha256, sha(fixture));
  assertSameWeights(m.encoder, fixture, '');
  const { tensors: expected } = loadSafetensors(join(repoRoot, 'test', 'fixtures', 'torchvision_r18_w0125_h.safetensors'));
  const ours = h(m.encoder, expected.get('input')!);
  assert.ok(relativeError(ours, expected.get('h')!) < 1e-5, `h against PyTorch's: ${relativeError(ours, expected.get('h')!)}`);
  const wide = model(3, 0.25);
  assert.throws(() => initialiseFrom(wide, fixture, { partial: false }), /of another shape conv1\.weight \(\[8, 3, 3, 3\] in the file, \[16, 3, 3, 3\] here\)/);
  for (const x of [m, wide, ours, ...expected.values()]) x.dispose();
});

let source: SimCLRModel;
const sourceRun = join(base, 'source');

test('init: a run folder, its checkpoint and its encoder file load the exact weights (the same h); the head only from a checkpoint', async () => {
  source = (await pretrain(config(sourceRun), { log: null, handleSignals: false })).model;
  const checkpoint = listCheckpoints(sourceRun)[0]!;
  manualSeed(1);
  const x = rand([6, 1, 28, 28]);
  const expected = h(source.encoder, x);
  for (const from of [sourceRun, checkpoint, join(sourceRun, 'encoder.safetensors')]) {
    const m = model(1);
    const record = initialiseFrom(m, from);
    assert.equal(record.file, from === sourceRun ? checkpoint : from);
    assert.equal(record.sha256, sha(record.file));
    assert.equal(tidy(() => h(m.encoder, x).sub(expected).abs().amax().item()), 0, from);
    m.dispose();
  }
  const withHead = model(1);
  const record = initialiseFrom(withHead, sourceRun, { head: true });
  assert.equal(record.loaded.head, withHead.head.stateDict().size);
  assertSameWeights(withHead.head, checkpoint, 'model.head.');
  assert.throws(() => initialiseFrom(model(1), join(sourceRun, 'encoder.safetensors'), { head: true }), /--init-head needs a pretraining checkpoint/);
  for (const t of [x, expected, withHead]) t.dispose();
});

test('init: conv1 adapted 1 → 3 and 3 → 1 channels: a gray image replicated to RGB has the same h', () => {
  manualSeed(2);
  const gray = rand([5, 1, 28, 28]);
  const rgb = tidy(() => gray.expand([5, 3, 28, 28]).contiguous());
  // 1 → 3: the 1-channel run into a 3-channel encoder
  const three = model(3);
  assert.match(initialiseFrom(three, sourceRun).adapted!, /from 1 input channel to 3: its weights replicated and divided by 3/);
  const relative13 = relativeError(h(three.encoder, rgb), h(source.encoder, gray));
  assert.ok(relative13 < 1e-5, `1 → 3: ${relative13}`);
  // 3 → 1: PyTorch's 3-channel weights into a 1-channel encoder
  const rgbModel = model(3);
  initialiseFrom(rgbModel, fixture, { partial: true });
  const one = model(1);
  assert.match(initialiseFrom(one, fixture, { partial: true }).adapted!, /from 3 input channels to 1: its weights summed/);
  const relative31 = relativeError(h(one.encoder, gray), h(rgbModel.encoder, rgb));
  assert.ok(relative31 < 1e-5, `3 → 1: ${relative31}`);
  for (const t of [gray, rgb, three, rgbModel, one]) t.dispose();
});

test('init: the run records where it started; an --init run stopped and resumed equals it run straight', async () => {
  const init = { init: sourceRun, epochs: 2 };
  const straight = await pretrain(config(join(base, 'straight'), init), { log: null, handleSignals: false });
  const recorded = JSON.parse(readFileSync(join(base, 'straight', 'config.json'), 'utf8')) as PretrainConfig;
  assert.equal(recorded.initFrom!.file, listCheckpoints(sourceRun)[0]);
  assert.equal(recorded.initFrom!.sha256, sha(recorded.initFrom!.file));
  const first = await pretrain(config(join(base, 'resumed'), { ...init, stopEpoch: 1 }), { log: null, handleSignals: false });
  first.model.dispose();
  const second = await pretrain(config(join(base, 'resumed'), init), { resume: true, log: null, handleSignals: false });
  assert.deepEqual(stepLosses(join(base, 'resumed')), stepLosses(join(base, 'straight')));
  for (const [key, t] of straight.model.stateDict()) assert.equal(tidy(() => t.sub(second.model.stateDict().get(key)!).abs().amax().item()), 0, key);
  // and it did start from the source: its first loss is not a fresh encoder's
  const scratch = await pretrain(config(join(base, 'scratch'), { epochs: 2 }), { log: null, handleSignals: false });
  assert.notEqual(stepLosses(join(base, 'scratch'))[0], stepLosses(join(base, 'straight'))[0]);
  for (const m of [straight.model, second.model, scratch.model, source]) m.dispose();
});
