// simclr sweep: a grid of pretraining settings, run one after another, each in its own folder,
// each scored by the same evaluation against baselines computed once; resumable at any point.
//   base:  pretrain options (camelCase, as in --config files)
//   grid:  option → list of values (every combination)
//   seeds: optional list (one more axis)
import { existsSync, readFileSync } from 'node:fs';
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
import { makeFolder } from '../simclr/run-folder.js';
import { UsageError, type Flags, type Parsed } from './args.js';
import { optionProblem } from './pretrain-flags.js';

export const sweepFlags = {
  out: { type: 'string', help: 'the sweep folder: one run folder per combination, summary.json' },
  'label-fraction': { type: 'number', default: 0.01, check: (v) => (v > 0 && v < 1 ? null : 'must be in (0, 1)'), help: 'the few-label columns: this share of the training labels' },
  draws: { type: 'int', default: 3, check: (v) => (v >= 1 ? null : 'must be ≥ 1'), help: 'label draws of the few-label columns' },
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

export async function sweepCommand(o: Parsed<typeof sweepFlags>, _given: Set<string>, positional: string[]): Promise<number> {
  if (positional.length !== 1) throw new UsageError('sweep: give the sweep file (simclr sweep <file.yaml> --out <folder>)');
  const file = positional[0]!;
  const plan = readSweep(file);
  makeFolder(o.out);
  const options = { fraction: o['label-fraction'], draws: o.draws };
  const summaryFile = join(o.out, 'summary.json');
  // Baselines depend on the data, the view size, the architecture and the seed, not on the rest: scored once per key.
  const baselinesFile = join(o.out, 'baselines.json');
  const baselines = (readJsonFile(baselinesFile) ?? {}) as Record<string, unknown>;
  if (typeof baselines !== 'object' || Array.isArray(baselines)) throw new DataError(baselinesFile, 'not a sweep\'s baselines (remove it to score them again)');
  const results: { folder: string; settings: Record<string, unknown>; scores: unknown; baselines: string }[] = [];
  const began = performance.now();
  let trained = 0;
  for (const [i, run] of plan.runs.entries()) {
    const dir = join(o.out, run.folder);
    const runSummary = join(dir, 'summary.json');
    const left = plan.runs.length - i;
    const eta = trained > 0 ? ` · ETA ${formatDuration(((performance.now() - began) / 1000 / trained) * left)}` : '';
    if (existsSync(runSummary)) {
      // (finished before the sweep was stopped: not trained again)
      const done = readJsonFile(runSummary) as { scores?: unknown; baselines?: string } | null;
      if (typeof done?.scores !== 'object' || done.scores === null || typeof done.baselines !== 'string') throw new DataError(runSummary, 'not a sweep run\'s summary (remove it to run that combination again)');
      results.push({ folder: run.folder, settings: run.settings, scores: done.scores, baselines: done.baselines });
      continue;
    }
    note(`sweep: run ${i + 1} of ${plan.runs.length} (${run.folder})${eta}`);
    const config = { ...pretrainDefaults, ...plan.base, ...run.settings, out: dir } as PretrainConfig;
    const resume = existsSync(dir) && listCheckpoints(dir).length > 0;
    const result = await pretrain(config, { resume, overwrite: !resume });
    const c = result.config;
    const size = c.imageSize;
    const data = await openEvalData(c.data, size, runDataOptions({ config: c, split: result.split }, c.data));
    const scoreOptions = { size, seed: c.seed, ...options };
    const encoder = result.model.encoder as ResNet;
    const scores = summaryColumns(await scoreFeatures('simclr', encoderFeatures(encoder, 'simclr', data, size), scoreOptions));
    const key = JSON.stringify([c.data, size, c.depth, c.cifarStem, c.width, encoder.options.inChannels, c.seed, options]);
    if (!(key in baselines)) {
      const random = randomEncoder({ depth: c.depth, cifarStem: c.cifarStem, width: c.width, inChannels: encoder.options.inChannels, imageSize: size }, c.seed);
      const rows: Partial<Scores> = await baselineScores(random, data, scoreOptions);
      random.dispose();
      baselines[key] = Object.fromEntries(FEATURE_SETS.filter((n) => n !== 'simclr').map((n) => [n, summaryColumns(rows[n]!)]));
      writeFileAtomic(baselinesFile, [Buffer.from(`${JSON.stringify(baselines, null, 2)}\n`)]);
    }
    data.dispose();
    result.model.dispose();
    writeFileAtomic(runSummary, [Buffer.from(`${JSON.stringify({ settings: run.settings, scores, baselines: key }, null, 2)}\n`)]);
    results.push({ folder: run.folder, settings: run.settings, scores, baselines: key });
    trained++;
  }
  const summary = { sweep: file, base: plan.base, axes: plan.axes, labelFraction: options.fraction, draws: options.draws, runs: results, baselines };
  writeFileAtomic(summaryFile, [Buffer.from(`${JSON.stringify(summary, null, 2)}\n`)]);
  console.log(`sweep: ${results.length} runs (${trained} trained now), summary: ${summaryFile}`);
  for (const r of results) {
    const s = r.scores as ReturnType<typeof summaryColumns>;
    console.log(`  ${r.folder.padEnd(40)} kNN ${pct(s.knn)}  linear ${pct(s.linear)}  few-label kNN ${pct(s.fewLabelKnn.mean)}  linear ${pct(s.fewLabelLinear.mean)}`);
  }
  return 0;
}
