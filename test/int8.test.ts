// The int8 engine: the quantised graph's weights are the folded float weights rounded per output
// channel to 7 bits (checked here from the weights themselves); its activations' scales and zero
// points follow the calibrated ranges; its features stay near the float encoder's and are not them;
// an index built by it keeps its ranges, and `similar` quantises queries alike, so an indexed image
// finds itself at similarity 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { extractFeatures } from '../src/eval/features.js';
import { int8Ranges } from '../src/eval/engine.js';
import { exportOnnx } from '../src/export/onnx.js';
import { quantizedActivations, quantizeOnnx } from '../src/export/quantize.js';
import { MemorySource } from '../src/data/source.js';
import { BatchNorm } from '../src/nn/layers.js';
import { resnet } from '../src/models/resnet.js';
import { architectureMetadata } from '../src/simclr/encoder-file.js';
import { manualSeed, noGrad, rand, randint, tidy } from '../src/index.js';
import { colourFolder, relativeError, repoRoot } from './helpers.js';

const { onnx } = onnxProto;

function randomisedEncoder(inChannels: number) {
  const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels });
  encoder.apply((b) => {
    if (!(b instanceof BatchNorm)) return;
    const n = b.numFeatures;
    noGrad(() => tidy(() => (b.runningMean!.copy_(rand([n]).sub(0.5)), b.runningVar!.copy_(rand([n]).mul(1.5).add(0.5)), b.weight!.copy_(rand([n]).add(0.5)), b.bias!.copy_(rand([n]).sub(0.5)))));
  });
  return encoder;
}

/** An initializer's values, as the typed array `type` reads its bytes. */
function values<T>(t: onnxProto.onnx.ITensorProto, type: new (buffer: ArrayBuffer) => T): T {
  const raw = t.rawData!;
  return new type(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer);
}

test('int8: weights rounded per channel to 7 bits, activation scales and zero points from the ranges', () => {
  manualSeed(11);
  const encoder = randomisedEncoder(3);
  encoder.eval();
  const graph = exportOnnx(encoder, { imageSize: 16, foldBatchNorm: true });
  const names = quantizedActivations(graph);
  assert.equal(names[0], 'images');
  // made-up ranges: one straddling 0, one above it (widened to hold 0)
  const ranges = new Map(names.map((n, i) => [n, (i % 2 === 0 ? [-1 - i / 10, 3 + i / 10] : [0.5, 2 + i]) as [number, number]]));
  const q = onnx.ModelProto.decode(quantizeOnnx(graph, ranges, { weightBits: 7 })).graph!;
  const init = new Map(q.initializer!.map((t) => [t.name!, t]));
  const float = new Map(onnx.ModelProto.decode(graph).graph!.initializer!.map((t) => [t.name!, t]));
  // every activation: scale (hi − lo)/255 over [min(lo, 0), max(hi, 0)], zero point −lo/scale
  names.forEach((n, i) => {
    const [lo, hi] = i % 2 === 0 ? [-1 - i / 10, 3 + i / 10] : [0, 2 + i];
    const scale = values(init.get(`${n}.scale`)!, Float32Array)[0]!;
    assert.ok(Math.abs(scale - (hi - lo) / 255) < 1e-6 * scale, `${n} scale`);
    assert.equal(values(init.get(`${n}.zero_point`)!, Uint8Array)[0], Math.round(0 - lo / ((hi - lo) / 255)), `${n} zero point`);
  });
  // every convolution's weights: w ≈ q·s with |q| ≤ 63, s = max|w_c| / 63, error at most s/2
  let convolutions = 0;
  for (const node of q.node!.filter((n) => n.opType === 'Conv')) {
    const weightName = node.input![1]!.replace(/\.dq$/, '');
    const w = values(float.get(weightName)!, Float32Array);
    const wq = values(init.get(`${weightName}.q`)!, Int8Array);
    const s = values(init.get(`${weightName}.scale`)!, Float32Array);
    const per = w.length / s.length;
    for (let c = 0; c < s.length; c++) {
      const largest = Math.max(...Array.from(w.subarray(c * per, (c + 1) * per), Math.abs));
      assert.ok(Math.abs(s[c]! - largest / 63) < 1e-6 * s[c]!, `${weightName} channel ${c} scale`);
      for (let i = c * per; i < (c + 1) * per; i++) {
        assert.ok(Math.abs(wq[i]!) <= 63 && Math.abs(wq[i]! * s[c]! - w[i]!) <= s[c]! / 2 + 1e-7, `${weightName}[${i}]`);
      }
    }
    // the bias in int32 at the input's scale times the weights'
    const inputScale = values(init.get(`${node.input![0]!.replace(/\.dq$/, '')}.scale`)!, Float32Array)[0]!;
    const biasName = node.input![2]!.replace(/\.dq$/, '');
    const b = values(float.get(biasName)!, Float32Array);
    const bq = values(init.get(`${biasName}.q`)!, Int32Array);
    b.forEach((v, c) => assert.equal(bq[c], Math.round(v / (inputScale * s[c]!)), `${biasName}[${c}]`));
    convolutions++;
  }
  assert.equal(convolutions, 20); // ResNet-18: stem, 16 in the blocks, 3 downsamples
  encoder.dispose();
});

test('int8: features near the float encoder\'s (a few percent), calibrated once per encoder and size', async () => {
  manualSeed(12);
  const encoder = randomisedEncoder(3);
  const data = new MemorySource(randint(0, 256, [64, 3, 32, 32], { dtype: 'uint8' }), null, null, 'random images');
  const float = await extractFeatures(encoder, data, { size: 32, batchSize: 16, label: null, engine: 'libtorch' });
  const int8 = await extractFeatures(encoder, data, { size: 32, batchSize: 16, label: null, engine: 'int8' });
  assert.equal(int8.engine!.engine, 'int8');
  assert.equal(int8.engine!.calibrationImages, 64);
  const relative = relativeError(int8.features, float.features);
  assert.ok(relative > 1e-4 && relative < 0.1, `relative difference ${relative}`);
  // the ranges cover the float graph's activations on the calibration images: the input's is [0, 1]'s part
  const ranges = int8Ranges(encoder, 32)!;
  const [lo, hi] = ranges.get('images')!;
  assert.ok(lo >= 0 && hi <= 1 && hi > 0.99, `input range ${lo}…${hi}`);
  // a second extraction reuses them: the same features
  const again = await extractFeatures(encoder, data, { size: 32, batchSize: 16, label: null, engine: 'int8' });
  assert.equal(again.engine!.calibrationImages, 0);
  assert.equal(relativeError(again.features, int8.features), 0);
  for (const f of [float, int8, again]) f.features.dispose();
  data.dispose();
  encoder.dispose();
});

test('int8: an index keeps its ranges and similar quantises queries alike (an indexed image finds itself at similarity 1)', async () => {
  const base = mkdtempSync(join(tmpdir(), 'simclr-int8-'));
  const folder = join(base, 'images');
  await colourFolder(folder);
  manualSeed(13);
  const encoder = randomisedEncoder(3);
  const file = join(base, 'encoder.safetensors');
  encoder.save(file, architectureMetadata({ depth: 18, cifarStem: true, width: 0.25, inChannels: 3, imageSize: 32 }));
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), ...args, '--quiet'], { encoding: 'utf8' });
  const index = join(base, 'index.safetensors');
  const built = cli('index', '--checkpoint', file, '--data', folder, '--test-fraction', '0', '--engine', 'int8', '--out', index);
  assert.equal(built.status, 0, built.stderr);
  assert.equal((JSON.parse(built.stdout) as { engine: { engine: string } }).engine.engine, 'int8');
  const { loadIndex } = await import('../src/search/image-index.js');
  const loaded = loadIndex(index);
  assert.ok(loaded.int8 !== null && loaded.int8!.has('images'), 'ranges saved');
  const query = loaded.files[5]!;
  const r = cli('similar', '--index', index, '--query', query, '-k', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const top = (JSON.parse(r.stdout) as { results: { neighbours: { file: string; similarity: number }[] }[] }).results[0]!.neighbours[0]!;
  assert.equal(top.file, query);
  assert.ok(top.similarity > 0.99999, `similarity ${top.similarity}`);
  loaded.vectors.dispose();
  loaded.thumbnails.dispose();
  encoder.dispose();
});
