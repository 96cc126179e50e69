// The main job's evaluation phase, timed piece by piece: the features of the trained encoder, of a
// random-init encoder and raw pixels (each encoder's on the engine --engine picks: auto by
// default), each scored by kNN and the linear probe with all labels and with 1% of them (3 draws),
// as `simclr quickstart` does after pretraining; then the same evaluation with the baselines in the
// baseline cache (a fresh one, filled with the scores just computed): the main job's second run.
//   node dist/bench/eval.js [--run runs/quickstart] [--threads 2] [--engine auto] [--probe-iterations N]
// (--probe-iterations: the linear probes' L-BFGS iterations instead of their default, e.g. 1000 for
// a reference near the minimum)
import { availableParallelism } from 'node:os';
import { openEvalData, pixelFeatures, runProtocol } from '../src/eval/evaluate.js';
import { baselineScores, COLUMNS, encoderFeatures, type EngineRecords } from '../src/eval/compare.js';
import { BaselineCache, baselineKey, dataFingerprint } from '../src/eval/baseline-cache.js';
import { setEngine, type EngineChoice } from '../src/eval/engine.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Features } from '../src/eval/features.js';
import { loadEncoder, randomEncoder } from '../src/simclr/encoder-file.js';
import { setNumThreads } from '../src/tensor/create.js';
import { cpuFlags } from '../src/info.js';
import { option } from './common.js';

const runDir = option('--run', 'runs/quickstart');
const threads = Number(option('--threads', String(availableParallelism())));
const probeIterations = option('--probe-iterations', '');
const maxIterations = probeIterations === '' ? undefined : Number(probeIterations);
setNumThreads(threads);
setEngine(option('--engine', 'auto') as EngineChoice);

const loaded = loadEncoder(runDir);
const size = loaded.architecture.imageSize || 28;
const data = await openEvalData(loaded.config?.data ?? 'fashion-mnist', size, { recorded: loaded.split });
const seed = loaded.config?.seed ?? 0;
const random = randomEncoder(loaded.architecture, seed);
const engines: EngineRecords = {};
const sets: [string, (split: 'train' | 'test') => Promise<Features>][] = [
  ['simclr', encoderFeatures(loaded.encoder, 'simclr', data, size, engines)],
  ['random-init encoder', encoderFeatures(random, 'random-init encoder', data, size, engines)],
  ['raw pixels', (s) => pixelFeatures(data[s], size)],
];
const seconds = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(2));

// (the data's checksum, which a second run computes to find its baselines in the cache: timed here, where it is computed)
const tf = performance.now();
await dataFingerprint(data);
const fingerprintSeconds = seconds(tf);
const t0 = performance.now();
const rows: Record<string, unknown>[] = [];
const cache = new BaselineCache(mkdtempSync(join(tmpdir(), 'simclr-bench-baselines-')));
// (the main job's options: 1% of the labels, 3 draws)
const options = { size, fraction: 0.01, draws: 3, seed };
for (const [name, features] of sets) {
  let t = performance.now();
  const train = await features('train');
  const test = await features('test');
  const row: Record<string, unknown> = { features: name, dim: train.features.size(1), extractSeconds: seconds(t) };
  for (const [column, protocol, fractionOf] of COLUMNS) {
    const fraction = fractionOf(options);
    t = performance.now();
    const r = runProtocol(protocol, train, test, { fraction, draws: 3, seed, maxIterations, label: null });
    row[column] = { accuracy: r.accuracy, ...(fraction < 1 ? { accuracies: r.accuracies } : {}), seconds: seconds(t) };
    // (the baselines' columns into the cache, as the main job's first run leaves them)
    const key = name === 'simclr' ? null : await baselineKey(name as 'random-init encoder' | 'raw pixels', random, data, { size, protocol, fraction, draws: 3, seed });
    if (key !== null) cache.put(key, r);
  }
  train.features.dispose();
  test.features.dispose();
  rows.push(row);
  console.error(JSON.stringify(row));
}
const totalSeconds = seconds(t0);
// The second run: the trained encoder's row as above, the baselines from the cache (the data's checksum, timed above, and the entries read)
const tc = performance.now();
const cached: Record<string, string[]> = {};
await baselineScores(random, data, options, { cache, cached });
const cachedBaselinesSeconds = Number((seconds(tc) + fingerprintSeconds).toFixed(2));
const simclrRow = rows[0]!;
const simclrSeconds = Number(simclrRow.extractSeconds) + COLUMNS.reduce((sum, [c]) => sum + (simclrRow[c] as { seconds: number }).seconds, 0);
if (Object.keys(cached).length !== 2) throw new Error(`the baselines were not taken from the cache: ${JSON.stringify(cached)}`);
console.log(
  JSON.stringify({
    bench: 'eval',
    run: runDir,
    threads,
    probeIterations: maxIterations ?? 'default',
    cpu: cpuFlags(),
    engines,
    totalSeconds,
    cachedRun: { totalSeconds: Number((simclrSeconds + cachedBaselinesSeconds).toFixed(2)), baselinesFromCacheSeconds: cachedBaselinesSeconds, fingerprintSeconds },
    rows,
  }),
);
data.dispose();
random.dispose();
