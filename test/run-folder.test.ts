// Run folders: one run at a time, no clobbering, no stale temporaries, a metrics log that a resume
// leaves as if the run had never stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pretrainFlags, resolveConfig } from '../src/cli/pretrain-flags.js';
import type { PretrainConfig } from '../src/simclr/config.js';
import { NonFiniteLossError, pretrain } from '../src/simclr/pretrain.js';
import { listCheckpoints } from '../src/simclr/checkpoint.js';
import { RunFolderError, takeRunFolder } from '../src/simclr/run-folder.js';
import { repoRoot } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'simclr-run-folder-'));
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const tiny = ['--subset', '384', '--batch-size', '96', '--width', '0.125', '--knn-every', '0', '--threads', '1', '--precision', 'fp32'];

function config(out: string, overrides: Partial<PretrainConfig> = {}): PretrainConfig {
  const defaults = resolveConfig(Object.fromEntries(Object.entries(pretrainFlags).map(([k, v]) => [k, v.default])), new Set());
  return { ...defaults, subset: 384, batchSize: 96, epochs: 1, width: 0.125, knnEvery: 0, threads: 2, precision: 'fp32', out, ...overrides };
}

const records = (runDir: string) =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; globalStep: number; epoch: number; loss: number });

test('a second pretrain on the same --out exits non-zero naming the folder and the owner', async () => {
  const out = join(base, 'busy');
  const first = spawn(process.execPath, [cli, 'pretrain', ...tiny, '--epochs', '50', '--out', out], { stdio: 'ignore' });
  try {
    for (const deadline = Date.now() + 120_000; !existsSync(join(out, 'run.lock')); await new Promise((r) => setTimeout(r, 20))) {
      assert.ok(Date.now() < deadline, 'the first run locks its folder (run.lock) within 2 minutes');
    }
    const second = spawnSync(process.execPath, [cli, 'pretrain', ...tiny, '--epochs', '1', '--out', out], { encoding: 'utf8' });
    assert.notEqual(second.status, 0);
    assert.match(second.stderr, new RegExp(`${out.replace(/[/.]/g, '\\$&')} is in use by another run \\(process ${first.pid} on `));
    const resumed = spawnSync(process.execPath, [cli, 'pretrain', '--resume', '--out', out], { encoding: 'utf8' });
    assert.notEqual(resumed.status, 0);
    assert.match(resumed.stderr, /is in use by another run/);
  } finally {
    first.kill('SIGKILL');
    await new Promise((r) => first.on('exit', r));
  }
  // The killed run's lock names a dead process: the next run takes the folder over.
  assert.ok(existsSync(join(out, 'run.lock')));
  takeRunFolder(out, { resume: true }).release();
  assert.ok(!existsSync(join(out, 'run.lock')));
});

test('the lock holds within one process too, and is released when the run ends', () => {
  const dir = join(base, 'in-process');
  const held = takeRunFolder(dir);
  assert.throws(() => takeRunFolder(dir), (e: unknown) => e instanceof RunFolderError && e.message.includes(`process ${process.pid}`));
  held.release();
  takeRunFolder(dir).release();
});

test('a fresh run refuses a folder holding a run; --overwrite starts over and keeps its own checkpoint', async () => {
  const out = join(base, 'reused');
  (await pretrain(config(out, { epochs: 2, keepCheckpoints: 1 }), { log: null, handleSignals: false })).model.dispose();
  const old = listCheckpoints(out);
  assert.equal(old.length, 1);
  await assert.rejects(pretrain(config(out), { log: null, handleSignals: false }), (e: unknown) => e instanceof RunFolderError && /already holds a run \(.*checkpoints.*\): --resume continues it, --overwrite starts over/.test(e.message));
  const refused = spawnSync(process.execPath, [cli, 'pretrain', ...tiny, '--epochs', '1', '--out', out], { encoding: 'utf8' });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /already holds a run/);
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).epochs, 2, 'the refused run wrote nothing');
  (await pretrain(config(out, { epochs: 1, keepCheckpoints: 1 }), { overwrite: true, log: null, handleSignals: false })).model.dispose();
  const fresh = listCheckpoints(out);
  assert.equal(fresh.length, 1);
  assert.match(fresh[0]!, /step-00000004\.safetensors$/, 'the new run\'s own (earlier-step) checkpoint survives');
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).epochs, 1);
  assert.equal(records(out).filter((r) => r.type === 'step').length, 4, 'metrics.jsonl holds only the new run');
});

test('temporary files a killed writer left are removed when a run takes the folder', async () => {
  const out = join(base, 'stale');
  mkdirSync(join(out, 'checkpoints'), { recursive: true });
  const stale = [join(out, 'checkpoints', '.step-00000004.safetensors.4242.abc.tmp'), join(out, '.encoder.safetensors.4242.abc.tmp')];
  for (const f of stale) writeFileSync(f, 'partial');
  (await pretrain(config(out), { log: null, handleSignals: false })).model.dispose();
  for (const f of stale) assert.ok(!existsSync(f), f);
});

test('a resume cuts metrics.jsonl back to the checkpoint, and the resumed epoch\'s record covers all its steps', async () => {
  const straightDir = join(base, 'straight');
  (await pretrain(config(straightDir, { epochs: 2 }), { log: null, handleSignals: false })).model.dispose();
  const straight = records(straightDir);
  // Stop mid-epoch 1 (after its 2nd step) as SIGINT would, then append the records of steps that a
  // SIGKILL would have logged after that checkpoint.
  const out = join(base, 'interrupted');
  let steps = 0;
  const first = await pretrain(config(out, { epochs: 2 }), { log: (line) => /^epoch 1\/2 step/.test(line) && ++steps === 2 && process.emit('SIGINT'), handleSignals: true });
  first.model.dispose();
  assert.equal(first.stopped, 'signal');
  assert.equal(listCheckpoints(out).length, 1);
  for (const globalStep of [3, 4]) appendFileSync(join(out, 'metrics.jsonl'), `${JSON.stringify({ type: 'step', epoch: 1, step: globalStep, globalStep, loss: 99 })}\n`);
  (await pretrain(config(out, { epochs: 2 }), { resume: true, log: null, handleSignals: false })).model.dispose();
  const resumed = records(out);
  assert.deepEqual(resumed.map((r) => [r.type, r.type === 'step' ? r.globalStep : r.epoch]), straight.map((r) => [r.type, r.type === 'step' ? r.globalStep : r.epoch]));
  assert.deepEqual(resumed.map((r) => r.loss), straight.map((r) => r.loss), 'every step once, and epoch means over all 4 steps');
});

test('--out where no folder can be made fails at once with a clear message', () => {
  const result = spawnSync(process.execPath, [cli, 'pretrain', ...tiny, '--out', '/proc/simclr-run'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.error, undefined, 'it returned (no hang)');
  assert.equal(result.status, 1);
  assert.match(result.stderr, /cannot create the folder \/proc\/simclr-run: \w+/);
  const file = join(base, 'a-file');
  writeFileSync(file, '');
  const under = spawnSync(process.execPath, [cli, 'pretrain', ...tiny, '--out', join(file, 'run')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(under.status, 1);
  assert.match(under.stderr, /cannot create the folder .*a-file\/run: ENOTDIR/);
});

test('a non-finite loss before any checkpoint says that none was written', async () => {
  await assert.rejects(
    pretrain(config(join(base, 'nan'), { optimizer: 'sgd', lr: 1e30 }), { log: null, handleSignals: false }),
    (e: unknown) => e instanceof NonFiniteLossError && /No checkpoint was written yet \(the first comes after epoch 1\)/.test(e.message) && !e.message.includes('last good'),
  );
});
