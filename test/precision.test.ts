// --precision auto: the step's arithmetic chosen by timing both on the run's model, without leaving
// a trace in the run (same losses as the chosen precision forced), kept on resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pretrainDefaults, type PretrainConfig } from '../src/simclr/config.js';
import { pretrain } from '../src/simclr/pretrain.js';
import { measurePrecision, pickPrecision } from '../src/simclr/precision.js';
import { stepLosses } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-precision-'));

function config(out: string, overrides: Partial<PretrainConfig> = {}): PretrainConfig {
  return { ...pretrainDefaults, subset: 256, batchSize: 64, epochs: 2, width: 0.125, knnEvery: 0, threads: 2, out, ...overrides };
}

const records = (runDir: string) => readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('bf16 is picked only when its step is faster than fp32 by more than the margin', () => {
  // (views per second in fp32, in bf16)
  assert.equal(pickPrecision(100, 120), 'bf16');
  assert.equal(pickPrecision(100, 105), 'fp32');
  assert.equal(pickPrecision(100, 80), 'fp32');
  const choice = measurePrecision(
    { depth: 18, cifarStem: true, width: 0.125, inChannels: 1, head: 'v1', headLayers: 3, hiddenDim: 0, projectionDim: 32 },
    { count: 16, size: 16, temperature: 0.5, chunk: 0, memoryFormat: 'channels_last' },
  );
  assert.ok(choice.fp32ViewsPerSecond > 0 && choice.bf16ViewsPerSecond > 0);
  assert.equal(choice.views, 16);
  assert.equal(choice.precision, pickPrecision(choice.fp32ViewsPerSecond, choice.bf16ViewsPerSecond));
});

test('auto records its choice, trains exactly as that precision forced, and a resumed run keeps it', async () => {
  const auto = join(base, 'auto');
  (await pretrain(config(auto, { stopEpoch: 1 }), { log: null, handleSignals: false })).model.dispose();
  const chosen = JSON.parse(readFileSync(join(auto, 'config.json'), 'utf8')).precision;
  assert.ok(chosen === 'fp32' || chosen === 'bf16', `config.json says precision ${chosen}`);
  const measured = records(auto).filter((r) => r.type === 'precision');
  assert.equal(measured.length, 1);
  assert.equal(measured[0]!.precision, chosen);
  assert.ok((measured[0]!.fp32ViewsPerSecond as number) > 0 && (measured[0]!.bf16ViewsPerSecond as number) > 0);
  assert.equal(measured[0]!.views, 128);
  // Resumed (no second measurement), then compared with a straight run forced to the chosen precision.
  (await pretrain(config(auto), { resume: true, log: null, handleSignals: false })).model.dispose();
  assert.equal(records(auto).filter((r) => r.type === 'precision').length, 1);
  const forced = join(base, 'forced');
  (await pretrain(config(forced, { precision: chosen }), { log: null, handleSignals: false })).model.dispose();
  assert.equal(records(forced).filter((r) => r.type === 'precision').length, 0);
  assert.deepEqual(stepLosses(auto), stepLosses(forced));
  assert.equal(stepLosses(forced).length, 8);
});
