// `simclr embed` of a run's training images, the whole command timed (start-up, loading the data,
// the features, writing the file), against a plain onnxruntime-node session of the same encoder
// (exported with its BatchNorms folded, batches of 500, all cores, the images already in memory as
// float32: inference alone), alternately for --rounds rounds. Prints JSON.
//   node dist/bench/embed.js [--run runs/quickstart] [--rounds 2] [--engine auto]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { openEvalData } from '../src/eval/evaluate.js';
import { prepareImages } from '../src/eval/features.js';
import { exportOnnx } from '../src/export/onnx.js';
import { loadEncoder } from '../src/simclr/encoder-file.js';
import { cpuFlags } from '../src/info.js';
import { median, option, repoRoot } from './common.js';

const runDir = option('--run', 'runs/quickstart');
const rounds = Number(option('--rounds', '2'));
const engine = option('--engine', 'auto');
const threads = availableParallelism();

const { encoder, architecture, config, split } = loadEncoder(runDir);
const size = architecture.imageSize || 28;
const data = await openEvalData(config?.data ?? 'fashion-mnist', size, { recorded: split });
const images = data.train.size;
const feeds: Record<string, ort.Tensor>[] = [];
for (let start = 0; start < images; start += 500) {
  const raw = data.train.loadSync!(Int32Array.from({ length: Math.min(500, images - start) }, (_, i) => start + i));
  const x = prepareImages(raw, size);
  feeds.push({ images: new ort.Tensor('float32', x.toArray() as Float32Array, x.shape) });
  raw.dispose();
  x.dispose();
}
data.dispose();
encoder.eval();
const session = await ort.InferenceSession.create(exportOnnx(encoder, { imageSize: size, foldBatchNorm: true }), { intraOpNumThreads: threads });
await session.run(feeds[0]!);
const plainRate = async () => {
  const t = performance.now();
  for (const f of feeds) await session.run(f);
  return Math.round(images / ((performance.now() - t) / 1000));
};

const dir = mkdtempSync(join(tmpdir(), 'simclr-bench-embed-'));
const embed = () => {
  const t = performance.now();
  const out = execFileSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'embed', '--checkpoint', runDir, '--split', 'train', '--engine', engine, '--out', join(dir, 'h.safetensors'), '--quiet'], { encoding: 'utf8' });
  return { imagesPerSecond: Math.round(images / ((performance.now() - t) / 1000)), engine: (JSON.parse(out) as { engine: unknown }).engine };
};
const command: number[] = [];
const plain: number[] = [];
const engines: unknown[] = [];
for (let r = 0; r < rounds; r++) {
  const e = embed();
  command.push(e.imagesPerSecond);
  engines.push(e.engine);
  plain.push(await plainRate());
}
await session.release();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ bench: 'embed', run: runDir, images, threads, cpu: cpuFlags(), engine: engines, imagesPerSecond: { embedCommand: command, plainSession: plain }, commandOverPlain: median(command.map((c, r) => c / plain[r]!)) }));
