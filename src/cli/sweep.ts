// simclr sweep: a grid of pretraining settings, run one after another, each in its own folder,
// each scored by the same evaluation against baselines computed once; resumable at any point.
//   base:  pretrain options (camelCase, as in --config files)
//   grid:  option → list of values (every combination)
//   seeds: optional list (one more axis)
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import { DataError } from '../data/source.js';
import { baselineScores, encoderFeatures, FEATURE_SETS, pct, scoreFeatures, summaryColumns } from '../eval/compare.js';
import type { Scores } from '../eval/verdict.js';
import { openEvalData } from '../eval/evaluate.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import type { ResNet } from '../models/resnet.js';
import { formatDuration, note } from '../progress.js';
import { listCheckpoints } from '../simclr/checkpoint.js';
import { pretrainDefaults, type PretrainConfig } from '../simclr/config.js';
import { randomEncoder, runDataOptions } from '../simclr/encoder-file.js';
import { pretrain } from '../simclr/pretrain.js';
import { writeSweepReport } from '../report/sweep-report.js';
import { makeFolder } from '../simclr/run-folder.js';
import { UsageError, type Flags, type Parsed } from './args.js';
import { engineFlag, optionProblem } from './pretrain-flags.js';

export const sweepFlags = {
  out: { type: 'string', help: 'the sweep folder: one run folder per combination, summary.json' },
  'label-fraction': { type: 'number', default: 0.01, check: (v) => (v > 0 && v < 1 ? null : 'must be in (0, 1)'), help: 'the few-label columns: this share of the training labels' },
  draws: { type: 'int', default: 3, check: (v) => (v >= 1 ? null : 'must be ≥ 1'), help: 'label draws of the few-label columns' },
  'probe-z': { type: 'boolean', default: false, help: 'also score z, the projection head\'s output, by the same protocols (the paper\'s Figure 8: h against z)' },
  parallel: { type: 'int', default: 1, check: (v) => (v >= 1 ? null : 'must be ≥ 1'), help: 'runs at once, each a process with the cores shared among them (2 on 2 cores: 1.6× the runs per hour at 32 px, docs/sweeps.md)' },
  run: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'only combination N of the file, 1-based (what --parallel\'s workers do; also a way to spread a sweep over machines sharing --out); 0: all' },
  ...engineFlag,
} satisfies Flags;

/** One combination of the grid: its folder and the options it sets over `base`. */
export interface SweepRun {
  folder: string;
  settings: Record<string, unknown>;
}

/** A sweep file read and checked: its base options and every combination, in order. */
export interface SweepPlan {
  base: Record<string, unknown>;
  axes: string[];
  runs: SweepRun[];
}

/** Reads and checks a sweep file before anything runs; a problem is a DataError naming the file and its line. */
export function readSweep(file: string): SweepPlan {
  if (!existsSync(file)) throw new DataError(file, 'no such sweep file');
  const lineCounter = new LineCounter();
  const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter, uniqueKeys: true });
  const at = (node: Node | null | undefined) => (node?.range ? `line ${lineCounter.linePos(node.range[0]).line}: ` : '');
  if (doc.errors.length > 0) throw new DataError(file, `line ${doc.errors[0]!.linePos?.[0].line ?? '?'}: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (!isMap(doc.contents)) throw new DataError(file, 'a sweep file is a map with base:, grid: and optionally seeds:');
  const sections = new Map((doc.contents.items as Pair<Node, Node>[]).map((p) => [String((p.key as { value?: unknown }).value), p]));
  for (const [name, pair] of sections) if (!['base', 'grid', 'seeds'].includes(name)) throw new DataError(file, `${at(pair.key)}unknown section '${name}' (base, grid, seeds)`);
  const base: Record<string, unknown> = {};
  const baseNode = sections.get('base')?.value;
  if (baseNode != null) {
    if (!isMap(baseNode)) throw new DataError(file, `${at(baseNode)}base: must map options to values`);
    for (const pair of baseNode.items as Pair<Node, Node>[]) {
      const key = String((pair.key as { value?: unknown }).value);
      const value = pair.value?.toJSON();
      const problem = key === 'out' ? "'out' is the sweep's: each run gets a folder of its own" : optionProblem(key, value);
      if (problem !== null) throw new DataError(file, `${at(pair.key)}${problem}`);
      base[key] = value;
    }
  }
  const gridNode = sections.get('grid')?.value;
  if (!isMap(gridNode) || gridNode.items.length === 0) throw new DataError(file, `${at(gridNode ?? sections.get('grid')?.key)}grid: must map at least one option to a list of values`);
  const axes: [string, unknown[]][] = [];
  for (const pair of gridNode.items as Pair<Node, Node>[]) {
    const key = String((pair.key as { value?: unknown }).value);
    if (!isSeq(pair.value) || pair.value.items.length === 0) throw new DataError(file, `${at(pair.key)}'${key}' needs a non-empty list of values`);
    if (key in base) throw new DataError(file, `${at(pair.key)}'${key}' is both in base: and in grid:`);
    const values = pair.value.toJSON() as unknown[];
    for (const [i, value] of values.entries()) {
      const problem = key === 'out' ? "'out' is the sweep's" : optionProblem(key, value);
      if (problem !== null) throw new DataError(file, `${at(pair.value.items[i] as Node)}${problem}`);
    }
    if (new Set(values.map((v) => JSON.stringify(v))).size !== values.length) throw new DataError(file, `${at(pair.key)}'${key}' lists a value twice`);
    axes.push([key, values]);
  }
  const seedsNode = sections.get('seeds')?.value;
  if (seedsNode != null) {
    if (!isSeq(seedsNode) || seedsNode.items.length === 0) throw new DataError(file, `${at(seedsNode)}seeds: must be a non-empty list of integers`);
    if ('seed' in base || axes.some(([k]) => k === 'seed')) throw new DataError(file, `${at(seedsNode)}seeds: and a seed option both given`);
    const seeds = seedsNode.toJSON() as unknown[];
    for (const [i, seed] of seeds.entries()) {
      const problem = optionProblem('seed', seed);
      if (problem !== null) throw new DataError(file, `${at(seedsNode.items[i] as Node)}${problem}`);
    }
    axes.push(['seed', seeds]);
  }
  // Every combination, the first axis slowest; each folder named by its index and settings.
  let combos: Record<string, unknown>[] = [{}];
  for (const [key, values] of axes) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  const runs = combos.map((settings, i) => ({
    folder: `${String(i + 1).padStart(3, '0')}-${Object.entries(settings).map(([k, v]) => `${k}=${String(v)}`).join(',').replace(/[^\w.=,+-]/g, '_')}`,
    settings,
  }));
  return { base, axes: axes.map(([k]) => k), runs };
}

/** What a run of the sweep leaves in its folder's summary.json. */
interface RunSummary {
  settings: Record<string, unknown>;
  /** Scores of h (and, with --probe-z, of z). */
  scores: Columns;
  zScores?: Columns;
  /** The key of its baselines, and their rows where this run scored them. */
  baselines: string;
  baselineRows?: Record<string, Columns>;
}
type Columns = ReturnType<typeof summaryColumns>;

/** Reads a finished run's summary.json, or null when the run has not finished. */
function finishedRun(dir: string): RunSummary | null {
  const file = join(dir, 'summary.json');
  if (!existsSync(file)) return null;
  const done = readJsonFile(file) as Partial<RunSummary> | null;
  if (typeof done?.scores !== 'object' || done.scores === null || typeof done.baselines !== 'string') throw new DataError(file, 'not a sweep run\'s summary (remove it to run that combination again)');
  return done as RunSummary;
}

/** Trains and scores one combination in `dir` (resuming a cut run), scoring its baselines unless `known` has them. */
async function trainAndScore(plan: SweepPlan, run: SweepRun, dir: string, o: Parsed<typeof sweepFlags>, known: Record<string, unknown>, threads: number): Promise<RunSummary> {
  const options = { fraction: o['label-fraction'], draws: o.draws };
  const config = { ...pretrainDefaults, threads, ...plan.base, ...run.settings, out: dir } as PretrainConfig;
  const resume = existsSync(dir) && listCheckpoints(dir).length > 0;
  const result = await pretrain(config, { resume, overwrite: !resume });
  const c = result.config;
  const size = c.imageSize;
  const data = await openEvalData(c.data, size, runDataOptions({ config: c, split: result.split }, c.data));
  try {
    const scoreOptions = { size, seed: c.seed, ...options };
    const encoder = result.model.encoder as ResNet;
    const scores = summaryColumns(await scoreFeatures('simclr', encoderFeatures(encoder, 'simclr', data, size), scoreOptions));
    const zScores = o['probe-z'] ? summaryColumns(await scoreFeatures('simclr z', encoderFeatures(result.model, 'simclr z', data, size), scoreOptions)) : undefined;
    const key = JSON.stringify([c.data, size, c.depth, c.cifarStem, c.width, encoder.options.inChannels, c.seed, options]);
    let baselineRows: Record<string, Columns> | undefined;
    if (!(key in known)) {
      const random = randomEncoder({ depth: c.depth, cifarStem: c.cifarStem, width: c.width, inChannels: encoder.options.inChannels, imageSize: size }, c.seed);
      const rows: Partial<Scores> = await baselineScores(random, data, scoreOptions);
      random.dispose();
      baselineRows = Object.fromEntries(FEATURE_SETS.filter((n) => n !== 'simclr').map((n) => [n, summaryColumns(rows[n]!)]));
    }
    const summary: RunSummary = { settings: run.settings, scores, ...(zScores ? { zScores } : {}), baselines: key, ...(baselineRows ? { baselineRows } : {}) };
    writeFileAtomic(join(dir, 'summary.json'), [Buffer.from(`${JSON.stringify(summary, null, 2)}\n`)]);
    return summary;
  } finally {
    data.dispose();
    result.model.dispose();
  }
}

export async function sweepCommand(o: Parsed<typeof sweepFlags>, _given: Set<string>, positional: string[]): Promise<number> {
  if (positional.length !== 1) throw new UsageError('sweep: give the sweep file (simclr sweep <file.yaml> --out <folder>)');
  const file = positional[0]!;
  const plan = readSweep(file);
  if (o.run > plan.runs.length) throw new UsageError(`sweep: --run ${o.run}, but ${file} has ${plan.runs.length} combinations`);
  makeFolder(o.out);
  // Baselines depend on the data, the view size, the architecture and the seed, not on the rest: scored once per key.
  const baselinesFile = join(o.out, 'baselines.json');
  const baselines = (readJsonFile(baselinesFile) ?? {}) as Record<string, unknown>;
  if (typeof baselines !== 'object' || Array.isArray(baselines)) throw new DataError(baselinesFile, 'not a sweep\'s baselines (remove it to score them again)');
  // Each run gets the cores shared among the runs that go at once, unless the file sets threads.
  const threads = Math.max(1, Math.floor(availableParallelism() / o.parallel));
  if (o.run > 0) {
    // (one combination, as --parallel's workers run them; a worker whose sweep is gone stops)
    // (the channel to the sweep does not keep this process alive; its closing ends it)
    process.channel?.unref();
    process.on('disconnect', () => process.exit(1));
    const run = plan.runs[o.run - 1]!;
    const dir = join(o.out, run.folder);
    if (finishedRun(dir) === null) await trainAndScore(plan, run, dir, o, baselines, threads);
    return 0;
  }
  const results: (RunSummary & { folder: string })[] = new Array(plan.runs.length);
  const keep = (i: number, summary: RunSummary) => {
    results[i] = { folder: plan.runs[i]!.folder, ...summary };
    if (summary.baselineRows && !(summary.baselines in baselines)) {
      baselines[summary.baselines] = summary.baselineRows;
      writeFileAtomic(baselinesFile, [Buffer.from(`${JSON.stringify(baselines, null, 2)}\n`)]);
    }
  };
  const waiting: number[] = [];
  for (const [i, run] of plan.runs.entries()) {
    // (finished before the sweep was stopped: not trained again)
    const done = finishedRun(join(o.out, run.folder));
    if (done === null) waiting.push(i);
    else keep(i, done);
  }
  const began = performance.now();
  let trained = 0;
  let running = 0;
  const started = (i: number) => {
    // (the time per run so far, at the sweep's pace, for the runs not yet finished: this one and those
    // waiting, and those running, about half done on average)
    const eta = trained > 0 ? ` · ETA ${formatDuration(((performance.now() - began) / 1000 / trained) * (waiting.length + 1 + running / 2))}` : '';
    note(`sweep: run ${i + 1} of ${plan.runs.length} (${plan.runs[i]!.folder})${eta}`);
  };
  if (o.parallel === 1) {
    for (let i = waiting.shift(); i !== undefined; i = waiting.shift()) {
      started(i);
      keep(i, await trainAndScore(plan, plan.runs[i]!, join(o.out, plan.runs[i]!.folder), o, baselines, threads));
      trained++;
    }
  } else {
    // Runs at once, each a worker process (libtorch's threads are per process), one thread each on 2 cores.
    const workers = new Set<ChildProcess>();
    const worker = async (): Promise<void> => {
      for (let i = waiting.shift(); i !== undefined; i = waiting.shift()) {
        started(i);
        running++;
        const args = [process.argv[1]!, 'sweep', file, '--out', o.out, '--run', String(i + 1), '--parallel', String(o.parallel), '--label-fraction', String(o['label-fraction']), '--draws', String(o.draws), '--engine', o.engine, ...(o['probe-z'] ? ['--probe-z'] : []), '--quiet'];
        const child = fork(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        workers.add(child);
        const code = await new Promise<number | null>((done) => child.once('exit', done));
        workers.delete(child);
        running--;
        if (code !== 0) {
          waiting.length = 0;
          for (const w of workers) w.kill();
          throw new Error(`sweep: run ${i + 1} (${plan.runs[i]!.folder}) failed${code === null ? '' : ` with exit code ${code}`} (its message is above); start the sweep again to go on`);
        }
        keep(i, finishedRun(join(o.out, plan.runs[i]!.folder))!);
        trained++;
      }
    };
    const outcomes = await Promise.allSettled(Array.from({ length: o.parallel }, worker));
    const failed = outcomes.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
  const summaryFile = join(o.out, 'summary.json');
  const runs = results.map(({ folder, settings, scores, zScores, baselines: key }) => ({ folder, settings, scores, ...(zScores ? { zScores } : {}), baselines: key }));
  const summary = { sweep: file, base: plan.base, axes: plan.axes, labelFraction: o['label-fraction'], draws: o.draws, runs, baselines };
  writeFileAtomic(summaryFile, [Buffer.from(`${JSON.stringify(summary, null, 2)}\n`)]);
  const report = writeSweepReport(o.out);
  console.log(`sweep: ${results.length} runs (${trained} trained now), summary: ${summaryFile}, report: ${report}`);
  for (const r of results) {
    const s = r.scores;
    console.log(`  ${r.folder.padEnd(40)} kNN ${pct(s.knn)}  linear ${pct(s.linear)}  few-label kNN ${pct(s.fewLabelKnn.mean)}  linear ${pct(s.fewLabelLinear.mean)}`);
  }
  return 0;
}
