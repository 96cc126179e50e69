// ResNet encoders against torchvision: parameter counts, names, and a PyTorch fixture
// (scripts/fixtures/make_resnet_fixture.py) for outputs, running statistics and gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSafetensors, manualSeed, noGrad, rand, randn, resnet, tidy, type Tensor } from '../src/index.js';
import { withBatchNormsFolded } from '../src/nn/fold.js';
import { relativeError, repoRoot } from './helpers.js';

test('parameter counts and state-dict keys equal torchvision', () => {
  const cases: [number, Parameters<typeof resnet>[1], number, number][] = [
    [18, {}, 11_176_512, 120],
    [18, { cifarStem: true }, 11_168_832, 120],
    [50, {}, 23_508_032, 318],
    [18, { numClasses: 1000 }, 11_689_512, 122],
  ];
  for (const [depth, options, params, keys] of cases) {
    const m = resnet(depth as 18 | 50, options);
    assert.equal(m.parameterCount(), params, `resnet${depth} ${JSON.stringify(options)}`);
    assert.equal(m.stateDict().size, keys);
    m.dispose();
  }
  const m = resnet(18, { numClasses: 10 });
  const names = [...m.stateDict().keys()];
  for (const key of ['conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight', 'layer4.1.bn2.num_batches_tracked', 'layer2.0.downsample.0.weight', 'fc.bias']) {
    assert.ok(names.includes(key), key);
  }
  m.dispose();
});

test('width multiplier, input channels and h dimension', () => {
  tidy(() => {
    const m = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels: 1 });
    assert.deepEqual(m.conv1.weight.shape, [16, 1, 3, 3]);
    assert.equal(m.featureDim, 128);
    const r50 = resnet(50, { widthMultiplier: 2 });
    assert.equal(r50.featureDim, 4096);
    r50.dispose();
    m.dispose();
  });
});

test('zero-init residual sets each block\'s last BN γ to 0', () => {
  const m = resnet(50, { zeroInitResidual: true });
  const sd = m.stateDict();
  assert.equal(tidy(() => sd.get('layer1.0.bn3.weight')!.abs().sum().item()), 0);
  assert.notEqual(tidy(() => sd.get('layer1.0.bn2.weight')!.abs().sum().item()), 0);
  m.dispose();
});

test('resnet18 (CIFAR stem, width 0.25) matches PyTorch: outputs, running stats, gradients', () => {
  const { tensors: fx } = loadSafetensors(join(repoRoot, 'test', 'fixtures', 'resnet18_cifar_w025.safetensors'));
  const get = (k: string): Tensor => {
    const t = fx.get(k);
    if (t === undefined) throw new Error(`fixture lacks ${k}`);
    return t;
  };
  const model = resnet(18, { cifarStem: true, widthMultiplier: 0.25 });
  const weights = new Map([...fx].filter(([k]) => k.startsWith('weights.')).map(([k, v]) => [k.slice(8), v]));
  model.loadStateDict(weights);
  tidy(() => {
    const x = get('input');
    model.eval();
    assert.ok(relativeError(model.forward(x), get('out_eval')) < 1e-4, 'eval output');
    model.train();
    const h = model.forward(x);
    assert.ok(relativeError(h, get('out_train')) < 1e-4, 'train output');
    for (const [key, t] of model.stateDict()) {
      if (!key.includes('running') && !key.includes('num_batches')) continue;
      assert.ok(relativeError(t, get(`running.${key}`)) < 1e-4, key);
    }
    h.mul(get('loss_weight')).sum().backward();
    let checked = 0;
    for (const [key, p] of model.namedParameters()) {
      const err = relativeError(p.grad!, get(`grad.${key}`));
      assert.ok(err < 1e-4, `grad ${key}: ${err}`);
      checked++;
    }
    assert.equal(checked, 60);
  });
  model.dispose();
  for (const t of fx.values()) t.dispose();
});

test('BatchNorms folded into their convolutions give the eval-mode outputs, and leave the model as it was', async () => {
  manualSeed(4);
  const model = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels: 1 });
  // every BN with statistics and an affine transform far from the identity
  const changed = new Map<string, Tensor>();
  for (const [key, t] of model.stateDict()) {
    if (key.endsWith('running_var')) changed.set(key, rand(t.shape).mul(2).add(0.1));
    else if (key.endsWith('running_mean') || (key.includes('bn') && key.endsWith('bias'))) changed.set(key, randn(t.shape).mul(0.5));
    else if (key.includes('bn') && key.endsWith('weight')) changed.set(key, rand(t.shape).add(0.5));
  }
  model.loadStateDict(changed, { strict: false });
  model.to({ memoryFormat: 'channels_last' });
  model.eval();
  const before = new Map([...model.stateDict()].map(([k, t]) => [k, tidy(() => t.clone())]));
  const x = randn([8, 1, 28, 28]).contiguous('channels_last');
  const plain = noGrad(() => model.forward(x));
  const folded = await withBatchNormsFolded(model, async () => {
    model.train();
    assert.throws(() => noGrad(() => model.forward(x)), /folded into its convolution/);
    model.eval();
    return noGrad(() => model.forward(x));
  });
  assert.ok(relativeError(folded, plain) < 1e-5, `relative error ${relativeError(folded, plain)}`);
  // unfolded afterwards, also when the function throws: parameters and buffers bit for bit as before
  await assert.rejects(withBatchNormsFolded(model, async () => { throw new Error('inside'); }), /inside/);
  for (const [k, t] of model.stateDict()) assert.equal(tidy(() => t.sub(before.get(k)!).abs().amax().item()), 0, k);
  assert.ok(relativeError(noGrad(() => model.forward(x)), plain) === 0);
  // a model in training mode is refused (its batch statistics are not the running ones)
  model.train();
  await assert.rejects(withBatchNormsFolded(model, async () => 0), /eval mode/);
  for (const t of [x, plain, folded, ...before.values(), ...changed.values()]) t.dispose();
  model.dispose();
});
