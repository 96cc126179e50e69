// The feature engines: libtorch and ONNX Runtime give the same h (within 1e-4 of its scale) on
// encoders with randomised BatchNorm statistics (a wrong folding cannot hide behind the identity);
// the choice is recorded, forced when asked, measured once per architecture and input under auto,
// and an encoder with no ONNX form stays on libtorch (refused when onnxruntime is forced).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractFeatures } from '../src/eval/features.js';
import { ENGINE_MARGIN, MEASURED_BATCHES } from '../src/eval/engine.js';
import { MemorySource } from '../src/data/source.js';
import { BatchNorm, Linear, Sequential, Flatten } from '../src/nn/layers.js';
import { resnet } from '../src/models/resnet.js';
import { manualSeed, noGrad, rand, randint, tidy } from '../src/index.js';
import { relativeError } from './helpers.js';

function randomisedEncoder(inChannels: number, width: number) {
  const encoder = resnet(18, { cifarStem: true, widthMultiplier: width, inChannels });
  encoder.apply((b) => {
    if (!(b instanceof BatchNorm)) return;
    const n = b.numFeatures;
    noGrad(() => tidy(() => (b.runningMean!.copy_(rand([n]).sub(0.5)), b.runningVar!.copy_(rand([n]).mul(1.5).add(0.5)), b.weight!.copy_(rand([n]).add(0.5)), b.bias!.copy_(rand([n]).sub(0.5)))));
  });
  return encoder;
}

const source = (n: number, channels: number, side: number) => new MemorySource(randint(0, 256, [n, channels, side, side], { dtype: 'uint8' }), Int32Array.from({ length: n }, (_, i) => i % 3), null, 'random images');

for (const [channels, side, size] of [[1, 28, 28], [3, 32, 32], [3, 40, 32]] as const) {
  test(`engines: the same h from libtorch and ONNX Runtime (${channels} channel(s), ${side} px images at ${size})`, async () => {
    manualSeed(channels + side);
    const encoder = randomisedEncoder(channels, 0.25);
    const data = source(37, channels, side);
    const a = await extractFeatures(encoder, data, { size, batchSize: 16, label: null, engine: 'libtorch' });
    const b = await extractFeatures(encoder, data, { size, batchSize: 16, label: null, engine: 'onnxruntime' });
    assert.equal(a.engine!.engine, 'libtorch');
    assert.equal(b.engine!.engine, 'onnxruntime');
    assert.deepEqual(b.features.shape, [37, encoder.featureDim]);
    const relative = relativeError(b.features, a.features);
    assert.ok(relative < 1e-4, `relative difference ${relative}`);
    assert.ok(encoder.training, 'the encoder is back in its mode');
    a.features.dispose();
    b.features.dispose();
    data.dispose();
    encoder.dispose();
  });
}

test('engines: auto measures both on the first batch, records the rates, keeps the faster and remembers it', async () => {
  manualSeed(5);
  const encoder = randomisedEncoder(3, 0.125);
  const data = source(8 * MEASURED_BATCHES, 3, 32);
  const forced = await extractFeatures(encoder, data, { size: 32, batchSize: 8, label: null, engine: 'libtorch' });
  const first = await extractFeatures(encoder, data, { size: 32, batchSize: 8, label: null, engine: 'auto' });
  const rates = first.engine!.imagesPerSecond!;
  assert.ok(rates.libtorch > 0 && rates.onnxruntime > 0, JSON.stringify(first.engine));
  assert.equal(first.engine!.engine, rates.onnxruntime > rates.libtorch * (1 + ENGINE_MARGIN) ? 'onnxruntime' : 'libtorch');
  assert.ok(relativeError(first.features, forced.features) < 1e-4, 'the timed batch is part of the features');
  // another encoder of the same architecture: the choice is remembered, not measured again
  const other = randomisedEncoder(3, 0.125);
  const second = await extractFeatures(other, data, { size: 32, batchSize: 8, label: null, engine: 'auto' });
  assert.equal(second.engine!.engine, first.engine!.engine);
  assert.equal(second.engine!.imagesPerSecond, undefined);
  // fewer batches than the measurement is worth, at another size: libtorch, unmeasured
  const small = await extractFeatures(encoder, source(8, 3, 24), { size: 24, batchSize: 8, label: null, engine: 'auto' });
  assert.equal(small.engine!.engine, 'libtorch');
  assert.match(small.engine!.reason!, /fewer than/);
  for (const f of [forced, first, second, small]) f.features.dispose();
  data.dispose();
  encoder.dispose();
  other.dispose();
});

test('engines: an encoder with no ONNX form runs on libtorch under auto and is refused with onnxruntime forced', async () => {
  manualSeed(6);
  const encoder = new Sequential(new Flatten(), new Linear(3 * 8 * 8, 5));
  const data = source(8 * MEASURED_BATCHES, 3, 8);
  const auto = await extractFeatures(encoder, data, { size: 8, batchSize: 8, label: null });
  assert.equal(auto.engine!.engine, 'libtorch');
  assert.match(auto.engine!.reason!, /the encoder \(Sequential\) has no ONNX form/);
  auto.features.dispose();
  await assert.rejects(extractFeatures(encoder, data, { size: 8, batchSize: 8, label: null, engine: 'onnxruntime' }), /no ONNX form; use --engine libtorch/);
  data.dispose();
});
