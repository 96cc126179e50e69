// Pretraining checkpoints: one safetensors file holding the model (model.*), the optimizer state
// (optimizer.*), and in its metadata the config, the position (epoch, step) and the optimizer's
// hyper-parameters. Written atomically; the newest k are kept. A run draws its randomness from
// (seed, epoch, step) alone, so the position is all the state a resume needs besides the tensors.
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { GroupOptions, Optimizer, OptimizerState } from '../optim/optimizer.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ResolvedConfig } from './config.js';
import { DataError } from '../data/source.js';

/** Where a run stands in its schedule: what a checkpoint records for an exact resume. */
export interface Position {
  /** The next step to run: its epoch (0-based)… */
  epoch: number;
  /** …and the step within that epoch (0-based). */
  step: number;
  /** Steps completed since the start of the run, over all epochs. */
  globalStep: number;
  /** Running sums of the epoch so far, for its record when a run resumes mid-epoch. */
  epochTotals?: {
    /** Sum of the steps' losses. */
    loss: number;
    /** Sum of the steps' contrastive accuracies. */
    accuracy: number;
    /** Steps summed. */
    steps: number;
  };
}

export interface Checkpoint {
  file: string;
  config: ResolvedConfig;
  position: Position;
}

const PATTERN = /^step-(\d+)\.safetensors$/;

export function checkpointDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

/** Checkpoint files of a run, newest first. */
export function listCheckpoints(runDir: string): string[] {
  const dir = checkpointDir(runDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => PATTERN.test(f))
    .sort((a, b) => Number(PATTERN.exec(b)![1]) - Number(PATTERN.exec(a)![1]))
    .map((f) => join(dir, f));
}

export function saveCheckpoint(
  runDir: string,
  model: Module,
  optimizer: Optimizer<GroupOptions>,
  config: ResolvedConfig,
  position: Position,
  keep: number,
): string {
  const dir = checkpointDir(runDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `step-${String(position.globalStep).padStart(8, '0')}.safetensors`);
  const { tensors, meta } = optimizer.stateDict();
  const all: [string, Tensor][] = [
    ...[...model.stateDict()].map(([k, v]) => [`model.${k}`, v] as [string, Tensor]),
    ...[...tensors].map(([k, v]) => [`optimizer.${k}`, v] as [string, Tensor]),
  ];
  saveSafetensors(file, all, {
    format: 'simclr-checkpoint/1',
    config: JSON.stringify(config),
    position: JSON.stringify(position),
    optimizer: JSON.stringify(meta),
  });
  for (const old of listCheckpoints(runDir).slice(keep)) unlinkSync(old);
  return file;
}

/** Reads a checkpoint's metadata (config and position) without keeping its tensors. */
export function readCheckpoint(file: string): Checkpoint & { load(model: Module, optimizer: Optimizer<GroupOptions> | null): void; dispose(): void } {
  const { tensors, metadata } = loadSafetensors(file);
  if (metadata.format !== 'simclr-checkpoint/1') {
    for (const t of tensors.values()) t.dispose();
    throw new DataError(file, 'not a simclr pretraining checkpoint');
  }
  const field = <T>(key: string): T => {
    try {
      if (metadata[key] === undefined) throw new Error('missing');
      const value = JSON.parse(metadata[key]) as unknown;
      if (value === null || typeof value !== 'object') throw new Error('not an object');
      return value as T;
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw new DataError(file, `the checkpoint's ${key} is unreadable (${(e as Error).message})`);
    }
  };
  const config = field<ResolvedConfig>('config');
  const position = field<Position>('position');
  field<object>('optimizer');
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const totals = position.epochTotals;
  if (!count(position.epoch) || !count(position.step) || !count(position.globalStep) || (totals !== undefined && !(totals !== null && typeof totals === 'object' && [totals.loss, totals.accuracy, totals.steps].every(Number.isFinite)))) {
    for (const t of tensors.values()) t.dispose();
    throw new DataError(file, `the checkpoint's position ${JSON.stringify(position)} is not a place in a schedule (epoch, step and globalStep counts)`);
  }
  return {
    file,
    config,
    position,
    load(model, optimizer) {
      try {
        const pick = (prefix: string) => new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
        model.loadStateDict(pick('model.'));
        if (optimizer !== null) optimizer.loadStateDict({ tensors: pick('optimizer.'), meta: JSON.parse(metadata.optimizer!) as OptimizerState['meta'] });
      } catch (e) {
        throw new DataError(file, (e as Error).message);
      } finally {
        for (const t of tensors.values()) t.dispose();
      }
    },
    /** Frees the tensors without loading them (load frees them too). */
    dispose() {
      for (const t of tensors.values()) t.dispose();
    },
  };
}
