// Transfer as a protocol (the paper's section 6 on a small scale): encoders scored on several
// labelled data sets with the main job's protocol — kNN and linear probe, all labels and a label
// fraction over several draws — each data set beside its own baselines: the random-init encoder and
// raw pixels, and any encoder pretrained on that data set from scratch. Each encoder's row says what
// it is to that data set: transferred (pretrained elsewhere), from scratch (pretrained on it), or
// continued (pretrained on it from another encoder's weights, pretrain --init).
import { resolve } from 'node:path';
import { cpuFlags } from '../info.js';
import type { ResNet } from '../models/resnet.js';
import { note } from '../progress.js';
import { loadEncoder, randomEncoder, runDataOptions, type LoadedEncoder } from '../simclr/encoder-file.js';
import { withInputChannels } from '../simclr/init.js';
import { baselineScores, COLUMNS, encoderFeatures, scoreFeatures, type EngineRecords } from './compare.js';
import type { EngineRecord } from './engine.js';
import { openEvalData, splitSummary, type EvalData, type EvalResult } from './evaluate.js';
import { pairedGain, points, type Column } from './verdict.js';

/** What an encoder is to a data set it is scored on. */
export type TransferRole = 'transferred' | 'from scratch' | 'continued' | 'random-init encoder' | 'raw pixels';

/** One row of a data set's table. */
export interface TransferRow {
  /** The encoder as named (a run folder or file); the baseline's name for the two baselines. */
  name: string;
  /** What the row is to this data set. */
  role: TransferRole;
  /** The data the encoder was pretrained on (null: a baseline, or a lone encoder file). */
  pretrainedOn: string | null;
  /** Where a continued encoder's pretraining started (its --init). */
  initFrom: string | null;
  /** Epochs of the encoder's pretraining (null: a baseline, or a lone encoder file). */
  epochs: number | null;
  /** Input size the row was scored at. */
  size: number;
  /** conv1 adapted to the data's channels, in words (null: not needed). */
  adapted: string | null;
  /** The four columns: kNN and linear, all labels and the label fraction. */
  scores: Record<Column, EvalResult>;
  /** The baseline's scores came from the baseline cache. */
  cached: boolean;
}

/** One data set's table. */
export interface TransferTable {
  /** The data as named. */
  data: string;
  /** How it was split, and its image counts. */
  split: Record<string, unknown>;
  /** Channels of its images. */
  channels: number;
  /** The encoders' rows (in the order given), then the random-init encoder's and raw pixels'. */
  rows: TransferRow[];
  /** The table in words: each encoder against the best from-scratch encoder (if any) and the stronger baseline. */
  lines: string[];
}

/** What {@link transferTables} measured: transfer.json. */
export interface TransferResult {
  /** The file's format tag. */
  format: 'simclr-transfer/1';
  /** When it was measured (ISO 8601). */
  date: string;
  /** The CPU and its flags. */
  cpu: string;
  /** The few-label columns' share of the training labels. */
  fraction: number;
  /** Their label draws. */
  draws: number;
  /** Seed of the draws, the probe's validation split and the random-init encoder. */
  seed: number;
  /** The encoders, as named. */
  encoders: string[];
  /** A table per data set. */
  tables: TransferTable[];
  /** Wall time of the whole evaluation. */
  seconds: number;
  /** Which engine computed each encoder's features, by row name and data. */
  engines: Record<string, EngineRecord>;
}

/** Options of {@link transferTables}. */
export interface TransferOptions {
  /** The few-label columns' share of the training labels. */
  fraction: number;
  /** Label draws of the few-label columns. */
  draws: number;
  /** Seed of the label draws, the probe's validation split and the random-init encoder. */
  seed: number;
  /** Input size of every row (0: each encoder at the size it was trained at; the baselines at the size of the data set's own encoder, else the first encoder's). */
  imageSize?: number;
  /** Data without a test split: the share held out (a run's recorded split wins). */
  testFraction?: number;
  /** Seed of that held-out split. */
  splitSeed?: number;
  /** Skip unreadable images. */
  skipBad?: boolean;
}

/** Whether two data specs name the same data (paths compared resolved: `data/x` and `./data/x/` are one folder). */
const sameData = (a: string | undefined, b: string) => a !== undefined && (a === b || (a !== 'fashion-mnist' && b !== 'fashion-mnist' && resolve(a) === resolve(b)));

/** What `run` is to data set `data`. */
function roleOf(run: LoadedEncoder, data: string): TransferRole {
  if (!sameData(run.config?.data, data)) return 'transferred';
  return run.config!.initFrom === undefined ? 'from scratch' : 'continued';
}

const epochCount = (n: number) => `${n} epoch${n === 1 ? '' : 's'}`;

/** The four score columns' heads, in COLUMNS' order. */
export function transferHeads(fraction: number): string[] {
  const few = `${100 * fraction}%`;
  return ['kNN', 'linear', `kNN, ${few} of the labels`, `linear, ${few} of the labels`];
}

/** A row's score in one column, in percent: the few-label columns with their draws' spread. */
export function transferScore(r: TransferRow, column: Column): string {
  const s = r.scores[column];
  return column === 'fewKnn' || column === 'fewLinear' ? `${(100 * s.accuracy).toFixed(2)} ± ${(100 * s.std).toFixed(2)}` : (100 * s.accuracy).toFixed(2);
}

/** What a row is to its data set, in words. */
export function transferRole(r: TransferRow): string {
  const epochs = r.epochs === null ? '' : `, ${epochCount(r.epochs)}`;
  if (r.role === 'transferred') return `transferred (pretrained on ${r.pretrainedOn ?? 'unknown data'}${epochs})`;
  if (r.role === 'continued') return `continued here from ${r.initFrom}${epochs}`;
  if (r.role === 'from scratch') return `pretrained here from scratch${epochs}`;
  return 'baseline';
}

/**
 * The table in words: each encoder's gain over the data set's from-scratch encoder (when there is
 * one: the one pretrained for as many epochs, else the best in each column) and over the stronger
 * baseline, per column (few-label columns paired over the draws).
 */
export function transferLines(rows: readonly TransferRow[], fraction: number): string[] {
  const columns: [Column, string][] = [['knn', 'kNN'], ['linear', 'linear'], ['fewKnn', `kNN ${100 * fraction}%`], ['fewLinear', `linear ${100 * fraction}%`]];
  const encoders = rows.filter((r) => r.role !== 'random-init encoder' && r.role !== 'raw pixels');
  const against = (r: TransferRow, others: TransferRow[], what: string) =>
    `${what}: ${columns
      .map(([c, label]) => {
        const other = others.reduce((a, b) => (b.scores[c].accuracy > a.scores[c].accuracy ? b : a));
        const g = pairedGain(r.scores[c], other.scores[c]);
        return `${label} ${points(g.gain)}${g.spread > 0 ? ` ± ${(100 * g.spread).toFixed(2)}` : ''}${g.wins ? '' : g.gain > 0 ? ' (within the spread)' : ''}`;
      })
      .join(', ')}`;
  const scratch = encoders.filter((r) => r.role === 'from scratch');
  const baselines = rows.filter((r) => r.role === 'random-init encoder' || r.role === 'raw pixels');
  return encoders.map((r) => {
    // (as many epochs on this data: the same steps, the same wall time)
    const matched = scratch.filter((s) => r.epochs !== null && s.epochs === r.epochs);
    const others = matched.length > 0 ? matched : scratch;
    const parts = [
      ...(r.role !== 'from scratch' && others.length > 0 ? [against(r, others, `vs from scratch (${others.length === 1 ? `${others[0]!.name}${others[0]!.epochs === null ? '' : `, ${epochCount(others[0]!.epochs)}`}` : 'the best of each column'})`)] : []),
      against(r, baselines, 'vs the stronger baseline'),
    ];
    return `${r.name} (${r.role}): ${parts.join('; ')} points`;
  });
}

/**
 * Scores `encoders` (run folders, checkpoints or encoder files) on each labelled data set in
 * `datasets`, beside each data set's random-init encoder and raw pixels (from the baseline cache
 * when it holds them). An encoder for other channels than a data set's images is adapted to them
 * (conv1, as --init adapts it).
 */
export async function transferTables(encoders: readonly string[], datasets: readonly string[], o: TransferOptions): Promise<TransferResult> {
  const started = performance.now();
  const loaded = encoders.map((path) => loadEncoder(path));
  const engines: EngineRecords = {};
  const tables: TransferTable[] = [];
  try {
    for (const data of datasets) {
      // (the data set's own encoder, if one is given, fixes its split, and the baselines' size and
      // architecture; the data is opened as that run named it, which is how its split.json names it)
      const own = loaded.find((l) => sameData(l.config?.data, data));
      const reference = own ?? loaded[0]!;
      const spec = own?.config?.data ?? data;
      const splitOptions = own !== undefined ? runDataOptions(own, spec, o.skipBad) : { testFraction: o.testFraction, splitSeed: o.splitSeed, skipBad: o.skipBad };
      const sizeOf = (l: LoadedEncoder) => o.imageSize || l.architecture.imageSize || reference.architecture.imageSize || 32;
      const opened = new Map<number, EvalData>();
      const open = async (size: number) => {
        if (!opened.has(size)) opened.set(size, await openEvalData(spec, size, splitOptions));
        return opened.get(size)!;
      };
      try {
        const options = { fraction: o.fraction, draws: o.draws, seed: o.seed };
        const baseSize = sizeOf(reference);
        const base = await open(baseSize);
        const channels = base.train.imageShape[0]!;
        const rows: TransferRow[] = [];
        for (const [i, l] of loaded.entries()) {
          const size = sizeOf(l);
          const { encoder, adapted } = withInputChannels(l.encoder, channels);
          const name = encoders[i]!;
          if (adapted !== null) note(`${name} on ${data}: ${adapted}`);
          try {
            const scores = await scoreFeatures(`${name} on ${data}`, encoderFeatures(encoder, `${name} on ${data}`, await open(size), size, engines), { ...options, size });
            rows.push({ name, role: roleOf(l, data), pretrainedOn: l.config?.data ?? null, initFrom: l.config?.initFrom?.from ?? null, epochs: l.config?.epochs ?? null, size, adapted, scores, cached: false });
          } finally {
            if (encoder !== l.encoder) encoder.dispose();
          }
        }
        const random: ResNet = randomEncoder({ ...reference.architecture, inChannels: channels }, o.seed);
        const cached: Record<string, string[]> = {};
        try {
          const baselines = await baselineScores(random, base, { ...options, size: baseSize }, { engines, cached });
          for (const role of ['random-init encoder', 'raw pixels'] as const) {
            rows.push({ name: role, role, pretrainedOn: null, initFrom: null, epochs: null, size: baseSize, adapted: null, scores: baselines[role], cached: cached[role] !== undefined });
          }
        } finally {
          random.dispose();
        }
        const lines = transferLines(rows, o.fraction);
        for (const line of lines) note(line);
        tables.push({ data, split: splitSummary(base.split), channels, rows, lines });
      } finally {
        for (const d of opened.values()) d.dispose();
      }
    }
  } finally {
    for (const l of loaded) {
      l.encoder.dispose();
      l.model?.dispose();
    }
  }
  const { model, flags } = cpuFlags();
  return {
    format: 'simclr-transfer/1',
    date: new Date().toISOString(),
    cpu: `${model} (${flags.join(', ')})`,
    fraction: o.fraction,
    draws: o.draws,
    seed: o.seed,
    encoders: [...encoders],
    tables,
    seconds: (performance.now() - started) / 1000,
    engines,
  };
}

/** A data set's table as Markdown: a row per encoder and baseline, the four columns, then its lines. */
export function transferMarkdown(result: TransferResult): string {
  const heads = transferHeads(result.fraction).join(' | ');
  return result.tables
    .map((t) => {
      const head = `### ${t.data}\n\n| encoder | what it is here | ${heads} |\n|---|---|---:|---:|---:|---:|`;
      const rows = t.rows.map((r) => {
        return `| ${r.name} | ${transferRole(r)}${r.adapted ? '; conv1 adapted' : ''}${r.cached ? '; from the baseline cache' : ''} | ${COLUMNS.map(([c]) => transferScore(r, c)).join(' | ')} |`;
      });
      return [head, ...rows, '', ...t.lines.map((l) => `- ${l}`)].join('\n');
    })
    .join('\n\n');
}
