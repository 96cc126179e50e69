// nn.Module behaviour: names, state dicts, freezing, modes, checkpoints, layers against hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nn, ProjectionHead, tensor, tidy, zeros, ones, randn, manualSeed } from '../src/index.js';

test('dotted names, parameters then buffers, Sequential children 0, 1, …', () => {
  const m = new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.ReLU());
  assert.deepEqual([...m.stateDict().keys()], [
    '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked',
  ]);
  assert.deepEqual([...m.namedParameters()].map(([k]) => k), ['0.weight', '0.bias', '1.weight', '1.bias']);
  assert.equal(m.parameterCount(), 3 * 4 + 4 + 4 + 4);
  m.dispose();
});

test('Linear and Conv2d initialisation stays within PyTorch\'s bounds', () => {
  manualSeed(1);
  tidy(() => {
    const lin = new nn.Linear(100, 50);
    const bound = 1 / Math.sqrt(100);
    assert.ok(lin.weight.abs().amax().item() <= bound + 1e-7);
    assert.ok(lin.weight.abs().amax().item() > bound * 0.9);
    assert.ok(lin.bias!.abs().amax().item() <= bound + 1e-7);
    const conv = new nn.Conv2d(8, 16, 3);
    assert.ok(conv.weight.abs().amax().item() <= 1 / Math.sqrt(72) + 1e-7);
    lin.dispose();
    conv.dispose();
  });
});

test('BatchNorm: batch statistics in training, running statistics in eval (hand-computed)', () => {
  tidy(() => {
    const bn = new nn.BatchNorm1d(1, { momentum: 0.5 });
    const x = tensor([[1], [3]]); // mean 2, biased var 1, unbiased var 2
    const y = bn.forward(x);
    const eps = 1e-5;
    assert.ok(Math.abs(y.toNumbers()[0]! - -1 / Math.sqrt(1 + eps)) < 1e-6);
    const sd = bn.stateDict();
    assert.deepEqual(sd.get('running_mean')!.toNumbers(), [1]); // 0.5·0 + 0.5·2
    assert.deepEqual(sd.get('running_var')!.toNumbers(), [1.5]); // 0.5·1 + 0.5·2
    assert.equal(sd.get('num_batches_tracked')!.item(), 1);
    bn.eval();
    const z = bn.forward(tensor([[2.5]]));
    assert.ok(Math.abs(z.item() - 1.5 / Math.sqrt(1.5 + eps)) < 1e-6);
    assert.equal(sd.get('num_batches_tracked')!.item(), 1);
    assert.throws(() => bn.forward(zeros([1, 1, 2, 2])), /expected a 2-d or 3-d input/);
    bn.dispose();
  });
});

test('loadStateDict: strict key checks, shape mismatches, non-strict results', () => {
  tidy(() => {
    const a = new nn.Linear(2, 3);
    const b = new nn.Linear(2, 3);
    b.loadStateDict(a.stateDict());
    assert.deepEqual(b.weight.toNumbers(), a.weight.toNumbers());
    assert.throws(() => b.loadStateDict({ weight: zeros([3, 2]) }), /missing keys: bias/);
    assert.throws(() => b.loadStateDict({ weight: zeros([3, 2]), bias: zeros([3]), extra: zeros([1]) }), /unexpected keys: extra/);
    assert.throws(() => b.loadStateDict({ weight: zeros([2, 2]), bias: zeros([3]) }), /'weight' has shape \[2, 2\] but the module expects \[3, 2\]/);
    const r = b.loadStateDict({ weight: ones([3, 2]) }, { strict: false });
    assert.deepEqual(r, { missingKeys: ['bias'], unexpectedKeys: [] });
    assert.deepEqual(b.weight.toNumbers(), [1, 1, 1, 1, 1, 1]);
    assert.equal(b.weight.requiresGrad, true);
    a.dispose();
    b.dispose();
  });
});

test('save and load through safetensors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'simclr-mod-'));
  tidy(() => {
    const a = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2));
    a.forward(randn([2, 1, 5, 5]));
    a.save(join(dir, 'm.safetensors'));
    const b = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2));
    b.load(join(dir, 'm.safetensors'));
    for (const [k, t] of a.stateDict()) assert.deepEqual(b.stateDict().get(k)!.toNumbers(), t.toNumbers(), k);
    const c = new nn.Sequential(new nn.Conv2d(1, 3, 3));
    assert.throws(() => c.load(join(dir, 'm.safetensors')), /m\.safetensors: loadStateDict/);
    a.dispose();
    b.dispose();
    c.dispose();
  });
});

test('freezing, train/eval, zeroGrad, Module.to', () => {
  tidy(() => {
    const m = new nn.Sequential(new nn.Linear(2, 2), new nn.Dropout(0.5));
    m.requiresGrad_(false);
    assert.ok(m.parameters().every((p) => !p.requiresGrad));
    m.requiresGrad_(true);
    m.eval();
    assert.ok([...m.namedModules()].every(([, c]) => !c.training));
    const x = ones([4, 2]);
    assert.deepEqual(m.forward(x).toNumbers(), m.forward(x).toNumbers()); // no dropout in eval
    m.train();
    m.forward(x).sum().backward();
    assert.ok(m.parameters().every((p) => p.grad !== null));
    m.zeroGrad();
    assert.ok(m.parameters().every((p) => p.grad === null));
    m.to({ dtype: 'float64' });
    assert.ok(m.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad));
    m.dispose();
  });
});

test('projection heads: v1 Linear-ReLU-Linear, v2 with BN and layer selection', () => {
  tidy(() => {
    const v1 = new ProjectionHead({ inputDim: 8, outputDim: 4 });
    assert.deepEqual([...v1.stateDict().keys()], ['0.0.weight', '0.0.bias', '1.0.weight', '1.0.bias']);
    assert.deepEqual(v1.forward(randn([5, 8])).shape, [5, 4]);
    const v2 = new ProjectionHead({ version: 2, inputDim: 8, hiddenDim: 6, outputDim: 4 });
    const keys = [...v2.stateDict().keys()];
    assert.ok(keys.includes('0.1.bias') && !keys.includes('2.1.bias') && keys.includes('2.1.weight'));
    assert.ok(!keys.some((k) => /^\d\.0\.bias$/.test(k)));
    const h = randn([5, 8]);
    assert.equal(v2.features(h, 0), h);
    assert.deepEqual(v2.features(h, 1).shape, [5, 6]);
    assert.deepEqual(v2.forward(h).shape, [5, 4]);
    assert.ok(v2.features(h, 1).amin().item() >= 0); // after ReLU
    assert.throws(() => v2.features(h, 4), /head layer 4 does not exist/);
    v1.dispose();
    v2.dispose();
  });
});

test('the paper\'s Figure 8 heads: linear is one affine map W h + b, none gives z = h', () => {
  tidy(() => {
    const linear = new ProjectionHead({ inputDim: 3, outputDim: 2, layers: 1 });
    assert.deepEqual([...linear.stateDict().keys()], ['0.0.weight', '0.0.bias']);
    const w = linear.stateDict().get('0.0.weight')!.toNumbers();
    const b = linear.stateDict().get('0.0.bias')!.toNumbers();
    const h = [1, -2, 0.5];
    // (by hand: row j of W times h, plus b_j; negative outputs too, so there is no ReLU)
    const expected = [0, 1].map((j) => w[3 * j]! * h[0]! + w[3 * j + 1]! * h[1]! + w[3 * j + 2]! * h[2]! + b[j]!);
    linear.forward(tensor([h])).toNumbers().forEach((v, j) => assert.ok(Math.abs(v - expected[j]!) < 1e-6));
    const none = new ProjectionHead({ inputDim: 3, outputDim: 3, layers: 0 });
    assert.equal(none.parameters().length, 0);
    const x = tensor([h]);
    assert.equal(none.forward(x), x);
    assert.throws(() => new ProjectionHead({ inputDim: 3, outputDim: 2, layers: 0 }), /without layers gives z = h: its output is 3-d/);
    assert.throws(() => new ProjectionHead({ inputDim: 3, layers: 3 }), /v1 projection head has 0, 1 or 2 layers/);
    linear.dispose();
  });
});
