// What an evaluation table says, computed from its numbers: for each column (kNN and linear probe,
// all labels and a label fraction), SimCLR's encoder against the stronger of the two baselines.
// With several label draws the comparison is paired (every feature set is scored on the same
// draws), and a gain counts only when it exceeds the spread of the paired differences.
import { meanStd, type EvalResult } from './evaluate.js';

/** The features an evaluation compares: SimCLR's encoder and the two baselines. */
export type FeatureSet = 'simclr' | 'random-init encoder' | 'raw pixels';
/** A column of the evaluation table: kNN or linear probe, with all labels or the label fraction (few). */
export type Column = 'knn' | 'linear' | 'fewKnn' | 'fewLinear';
/** Every result of an evaluation table, by feature set and column. */
export type Scores = Record<FeatureSet, Record<Column, EvalResult>>;

/** The verdict on one column of the table. */
export interface ColumnVerdict {
  /** The column. */
  column: Column;
  /** The stronger baseline in this column. */
  baseline: FeatureSet;
  /** SimCLR minus that baseline, in accuracy (mean over the draws). */
  gain: number;
  /** Standard deviation of the paired per-draw differences (0 with a single score). */
  spread: number;
  /** Ahead by more than the spread. */
  wins: boolean;
}

/** What an evaluation table says, from {@link verdict}. */
export interface Verdict {
  /** The verdict on each column. */
  columns: ColumnVerdict[];
  /** SimCLR ahead of both baselines in every column. */
  helps: boolean;
  /** The verdict in words: a headline, then a line per column. */
  lines: string[];
}

/** A gain (0–1) in signed points with two decimals. */
export const points = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(2)}`;

/** One result against another scored on the same label draws: the mean paired gain, its spread, and whether it exceeds the spread. */
export function pairedGain(ours: EvalResult, theirs: EvalResult): { gain: number; spread: number; wins: boolean } {
  const { mean, std } = meanStd(ours.accuracies.map((a, d) => a - theirs.accuracies[d]!));
  return { gain: mean, spread: std, wins: mean > 0 && mean > std };
}

/** Compares SimCLR's encoder with the stronger baseline in each column (paired over the label draws); `epochs` of pretraining, `fraction` of the labels in the few-label columns. */
export function verdict(scores: Scores, { fraction, epochs }: { fraction: number; epochs: number }): Verdict {
  const names: Record<Column, string> = { knn: 'kNN, all labels', linear: 'linear, all labels', fewKnn: `kNN, ${100 * fraction}% of the labels`, fewLinear: `linear, ${100 * fraction}% of the labels` };
  const columns = (['fewLinear', 'fewKnn', 'linear', 'knn'] as Column[]).map((column): ColumnVerdict => {
    const ours = scores.simclr[column];
    const baseline = (['raw pixels', 'random-init encoder'] as FeatureSet[]).reduce((a, b) => (scores[b][column].accuracy > scores[a][column].accuracy ? b : a));
    return { column, baseline, ...pairedGain(ours, scores[baseline][column]) };
  });
  const after = `${epochs} epoch${epochs === 1 ? '' : 's'}`;
  const describe = (c: ColumnVerdict) =>
    `${names[c.column]}: ${points(c.gain)}${c.spread > 0 ? ` ± ${(100 * c.spread).toFixed(2)}` : ''} points ${c.gain >= 0 ? 'over' : 'behind'} ${c.baseline}${c.wins ? '' : c.gain > 0 ? ' (within the spread of the draws)' : ''}`;
  const wins = columns.filter((c) => c.wins);
  const few = columns.filter((c) => c.column === 'fewKnn' || c.column === 'fewLinear');
  let headline: string;
  if (wins.length === columns.length) headline = `SimCLR's encoder beats both baselines in every column, after ${after} of pretraining without labels.`;
  else if (few.every((c) => c.wins)) headline = `SimCLR's encoder beats both baselines with ${100 * fraction}% of the labels; with all of them it is not ahead everywhere.`;
  else if (wins.length === 0) headline = `SimCLR's encoder does not beat the baselines after ${after}; the learning curve in docs/results.md (node dist/bench/curve.js) shows how many it takes.`;
  else headline = `SimCLR's encoder is ahead of both baselines in ${wins.length} of ${columns.length} columns after ${after}.`;
  return { columns, helps: wins.length === columns.length, lines: [`verdict: ${headline}`, ...columns.map((c) => `  ${describe(c)}`)] };
}
