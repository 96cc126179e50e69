// Writes the seed corpora (fuzz/corpus/<target>/seed-*): small valid files of each kind a reader
// takes, and a few near-valid ones (truncated, a field off by one). Deterministic; the inputs of
// findings (fuzz/corpus/<target>/finding-*) and other hand-made cases (case-*) are kept as they are.
//   node dist/fuzz/make-seeds.js
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import sharp from 'sharp';
import { repoRoot } from './jazzer.js';
import { serializeSafetensors } from '../src/io/safetensors.js';
import { tensor } from '../src/tensor/create.js';
import { manualSeed } from '../src/tensor/create.js';
import { resolveConfig } from '../src/cli/pretrain-flags.js';
import { buildModel, modelConfig } from '../src/simclr/model.js';
import { architectureMetadata } from '../src/simclr/encoder-file.js';
import { saveIndex } from '../src/search/image-index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { WEIGHTS } from './checkpoint-file.js';

const corpus = join(repoRoot, 'fuzz', 'corpus');

function seeds(target: string, files: Record<string, Uint8Array | string>): void {
  const dir = join(corpus, target);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.startsWith('seed-')) rmSync(join(dir, f));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, `seed-${name}`), bytes);
}

const cat = (parts: Uint8Array[]) => Buffer.concat(parts);
const withMode = (mode: number, bytes: Uint8Array | string) => Buffer.concat([Buffer.from([mode]), Buffer.from(bytes)]);

// safetensors: every dtype, a scalar, an empty tensor, metadata; then near-valid files.
{
  const all: Record<string, Tensor> = {
    f32: tensor(new Float32Array([1, -2, 3.5, 0, 5, 6]), { shape: [2, 3] }),
    f64: tensor(new Float64Array([1, 2])),
    f16: tensor(new Float32Array([1, 2, 3])).to('float16'),
    bf16: tensor(new Float32Array([1, 2])).to('bfloat16'),
    i64: tensor(new BigInt64Array([1n, -1n])),
    i32: tensor(new Int32Array([7]), { shape: [1, 1] }),
    i16: tensor(new Int16Array([1, 2])),
    i8: tensor(new Int8Array([-1, 1])),
    u8: tensor(new Uint8Array([0, 255, 3])),
    bool: tensor(new Uint8Array([1, 0])).to('bool'),
    scalar: tensor(new Float32Array([42]), { shape: [] }),
    empty: tensor(new Float32Array(0), { shape: [0, 4] }),
  };
  const one = cat(serializeSafetensors({ x: all.f32! }, { format: 'simclr-encoder/1', note: 'a' }));
  const every = cat(serializeSafetensors(all));
  const noMeta = cat(serializeSafetensors({ a: all.u8!, b: all.i64! }));
  const bad = Buffer.from(one);
  bad.writeBigUInt64LE(BigInt(one.length), 0);
  seeds('safetensors', {
    'one-tensor.safetensors': one,
    'every-dtype.safetensors': every,
    'no-metadata.safetensors': noMeta,
    'empty-header.safetensors': cat(serializeSafetensors({})),
    'truncated.safetensors': one.subarray(0, one.length - 3),
    'header-too-long.safetensors': bad,
    'json-only.safetensors': Buffer.from('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'),
  });
  for (const t of Object.values(all)) t.dispose();
}

// IDX: images [2, 2, 2] raw and gzipped, labels, near-valid.
{
  const images = Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 64, 128, 255, 1, 2, 3, 4]);
  const labels = Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 3, 9]);
  seeds('idx', {
    'images.idx': images,
    'images.idx.gz': gzipSync(images),
    'labels.idx': labels,
    'labels.idx.gz': gzipSync(labels),
    'truncated.idx': images.subarray(0, 20),
    'int32-type.idx': Buffer.from([0, 0, 0x0c, 1, 0, 0, 0, 1, 0, 0, 0, 7]),
  });
}

// CIFAR: one record of each layout (label then 3072 pixel bytes), with and without names.
{
  const pixels = Buffer.alloc(3072, 0);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) & 255;
  const c10 = cat([Buffer.from([3]), pixels]);
  const c100 = cat([Buffer.from([4, 42]), pixels]);
  const names10 = 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n';
  const names20 = Array.from({ length: 20 }, (_, i) => `coarse${i}`).join('\n');
  seeds('cifar', {
    'cifar10-record': withMode(0, c10),
    'cifar10-record-names': withMode(4, cat([Buffer.from(names10), Buffer.from([0]), c10])),
    'cifar100-record': withMode(1, c100),
    'cifar100-coarse-names': withMode(1 | 2 | 4, cat([Buffer.from(names20), Buffer.from([0]), c100])),
    'cifar10-label-9-names': withMode(4, cat([Buffer.from(names10), Buffer.from([0, 9]), pixels])),
    'cifar10-nine-names': withMode(4, cat([Buffer.from(names10.split('\n').slice(0, 9).join('\n')), Buffer.from([0]), c10])),
    'cifar10-label-10': withMode(0, cat([Buffer.from([10]), pixels])),
    'cifar10-short': withMode(0, c10.subarray(0, 3000)),
  });
}

// Config files: JSON and YAML (mode byte: 0 JSON, 1 YAML).
seeds('config', {
  'quick.json': withMode(0, JSON.stringify({ epochs: 3, batchSize: 256, lr: 0.004, optimizer: 'adam', width: 0.25, cifarStem: true, data: 'fashion-mnist' })),
  'every-kind.json': withMode(0, JSON.stringify({ recipe: 'cifar10', seed: 7, temperature: 0.2, minScale: 0.08, blur: 0.5, testFraction: 0.1, skipBad: true, head: 'v2', headLayers: 3, masterPort: 0 })),
  'quick.yaml': withMode(1, 'epochs: 3\nbatchSize: 256\nlr: 4.0e-3\noptimizer: adam\nwidth: 0.25\ncifarStem: true\ndata: fashion-mnist\n'),
  'anchors.yaml': withMode(1, 'epochs: &e 3\nstopEpoch: *e\nprecision: bf16\nchannelsLast: false\n'),
  'unknown-key.json': withMode(0, '{"epoch": 3}'),
  'wrong-type.yaml': withMode(1, 'epochs: three\n'),
});

// split.json records.
seeds('split', {
  'held-out.json': JSON.stringify({ format: 'simclr-split/1', data: 'photos', kind: 'held-out', testFraction: 0.1, seed: 0, trainImages: 9, testImages: 1, test: ['cat/1.jpg'] }),
  'given.json': JSON.stringify({ format: 'simclr-split/1', data: 'fashion-mnist', kind: 'given', testFraction: 0, seed: 0, trainImages: 60000, testImages: 10000 }),
  'none.json': JSON.stringify({ format: 'simclr-split/1', data: 'photos', kind: 'none', testFraction: 0, seed: 3, trainImages: 4, testImages: 0 }),
  'wrong-format.json': JSON.stringify({ format: 'simclr-split/2', kind: 'given' }),
});

// Search indexes: labelled RGB and unlabelled grey.
{
  const dir = join(repoRoot, '.cache', 'fuzz', 'make-seeds');
  mkdirSync(dir, { recursive: true });
  const made: Record<string, Buffer> = {};
  for (const [name, c, labelled] of [['labelled-rgb', 3, true], ['unlabelled-grey', 1, false]] as const) {
    const n = 3;
    const vectors = tensor(Float32Array.from({ length: n * 4 }, (_, i) => ((i * 37) % 11) / 11 - 0.5), { shape: [n, 4] });
    const thumbnails = tensor(Uint8Array.from({ length: n * c * 4 * 4 }, (_, i) => (i * 13) & 255), { shape: [n, c, 4, 4] });
    const file = join(dir, `${name}.safetensors`);
    saveIndex(file, {
      vectors,
      thumbnails,
      files: ['a/1.png', 'a/2.png', 'b/3.png'],
      labels: labelled ? Int32Array.from([0, 0, 1]) : null,
      classNames: labelled ? ['a', 'b'] : null,
      fingerprint: '0123456789abcdef',
      imageSize: 4,
      inChannels: c,
      checkpoint: 'runs/x',
      data: 'photos',
    });
    made[`${name}.safetensors`] = readFileSync(file);
    vectors.dispose();
    thumbnails.dispose();
  }
  seeds('search-index', made);
  rmSync(dir, { recursive: true, force: true });
}

// Checkpoints and encoder files of a tiny ResNet-18 (width 1/32): their headers (see targets/checkpoint.ts).
{
  const base = resolveConfig({}, new Set());
  const config = { ...base, depth: 18 as const, width: 1 / 32, cifarStem: true, head: 'v1' as const, hiddenDim: 8, projectionDim: 4, imageSize: 32, inChannels: 3, out: 'runs/fuzz' };
  manualSeed(0);
  const model = buildModel(modelConfig(config, 3));
  const header = (pieces: Uint8Array[]) => {
    const head = Buffer.from(pieces[0]!);
    return head.subarray(8, 8 + Number(head.readBigUInt64LE(0)));
  };
  const modelTensors = [...model.stateDict()].map(([k, v]) => [`model.${k}`, v] as [string, Tensor]);
  const checkpoint = header(serializeSafetensors(modelTensors, { format: 'simclr-checkpoint/1', config: JSON.stringify(config), position: JSON.stringify({ epoch: 1, step: 0, globalStep: 10 }), optimizer: JSON.stringify({ kind: 'sgd' }) }));
  const encoder = header(serializeSafetensors(model.encoder.stateDict(), architectureMetadata({ depth: 18, cifarStem: true, width: 1 / 32, inChannels: 3, imageSize: 32 })));
  const grey = { ...config, inChannels: 1, cifarStem: false, head: 'v2' as const, headLayers: 3 };
  manualSeed(0);
  const greyModel = buildModel(modelConfig(grey, 1));
  const greyCheckpoint = header(serializeSafetensors([...greyModel.stateDict()].map(([k, v]) => [`model.${k}`, v] as [string, Tensor]), { format: 'simclr-checkpoint/1', config: JSON.stringify(grey), position: JSON.stringify({ epoch: 0, step: 3, globalStep: 3, epochTotals: { loss: 1, accuracy: 0.5, steps: 3 } }), optimizer: '{}' }));
  const dataBytes = (h: Buffer) => Math.max(...Object.values(JSON.parse(h.toString()) as Record<string, { data_offsets?: number[] }>).map((e) => e.data_offsets?.[1] ?? 0));
  for (const h of [checkpoint, encoder, greyCheckpoint]) if (dataBytes(h) > WEIGHTS.length) throw new Error(`a seed header needs ${dataBytes(h)} bytes of weights, more than the ${WEIGHTS.length} the target has`);
  seeds('checkpoint', {
    'checkpoint.json': checkpoint,
    'encoder.json': encoder,
    'checkpoint-grey-v2.json': greyCheckpoint,
  });
  // Two cases for the allocation bound: an architecture or a head far larger than the weights stored.
  const huge = JSON.parse(checkpoint.toString()) as Record<string, unknown> & { __metadata__: Record<string, string> };
  huge.__metadata__.config = JSON.stringify({ ...config, projectionDim: 100_000_000 });
  writeFileSync(join(corpus, 'checkpoint', 'case-huge-projection.json'), JSON.stringify(huge));
  const wide = { __metadata__: architectureMetadata({ depth: 152, cifarStem: false, width: 16, inChannels: 1, imageSize: 32 }), 'conv1.weight': { dtype: 'I8', shape: [1024, 1, 7, 7], data_offsets: [0, 50176] } };
  writeFileSync(join(corpus, 'checkpoint', 'case-resnet152-width16.json'), JSON.stringify(wide));
  model.dispose();
  greyModel.dispose();
}

// A run folder's config.json, as pretrain writes it (then variants of the options reopening its data reads).
{
  const config = { ...resolveConfig({}, new Set()), data: 'photos', cifarStem: true, inChannels: 3, recipeChoice: { recipe: 'cifar10', reason: 'small images', expectedEpochSeconds: null } };
  seeds('run-config', {
    'config.json': JSON.stringify(config, null, 2),
    'skip-bad.json': JSON.stringify({ data: 'photos', skipBad: true, sourceScale: 2 }),
    'no-data.json': JSON.stringify({ skipBad: false }),
  });
}

// Images: one of each format sharp reads here, small (the mode byte: bit 0 grey, bits 1–3 the view size).
{
  const rgb = sharp({ create: { width: 12, height: 8, channels: 3, background: '#c04020' } });
  const rgba = sharp({ create: { width: 6, height: 9, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } });
  const png = await rgb.clone().png().toBuffer();
  seeds('image', {
    'rgb.png': withMode(2, png),
    'rgba.png': withMode(5, await rgba.clone().png().toBuffer()),
    'grey16.png': withMode(3, await rgb.clone().grayscale().toColourspace('grey16').png().toBuffer()),
    'rgb.jpg': withMode(4, await rgb.clone().jpeg({ quality: 50 }).toBuffer()),
    'rotated.jpg': withMode(0, await rgb.clone().jpeg({ quality: 50 }).withMetadata({ orientation: 6 }).toBuffer()),
    'rgb.webp': withMode(6, await rgb.clone().webp({ quality: 50 }).toBuffer()),
    'rgb.gif': withMode(2, await rgb.clone().gif().toBuffer()),
    'rgb.tiff': withMode(2, await rgb.clone().tiff().toBuffer()),
    'truncated.png': withMode(2, png.subarray(0, png.length - 20)),
  });
}

// Decode caches: the one imageFolder writes for the target's folder.
{
  process.env.SIMCLR_FUZZ_TMP = join(repoRoot, '.cache', 'fuzz', 'make-seeds');
  const { preparedCache } = await import('./targets/decode-cache.js');
  const valid = readFileSync(await preparedCache());
  seeds('decode-cache', { 'cache.safetensors': valid, 'truncated.safetensors': valid.subarray(0, valid.length - 5) });
  rmSync(process.env.SIMCLR_FUZZ_TMP, { recursive: true, force: true });
}

let total = 0;
for (const t of readdirSync(corpus)) {
  const files = readdirSync(join(corpus, t));
  const bytes = files.reduce((s, f) => s + readFileSync(join(corpus, t, f)).length, 0);
  total += bytes;
  console.log(`${t}: ${files.length} inputs, ${bytes} bytes`);
}
console.log(`total: ${total} bytes`);
