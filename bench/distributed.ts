// Data-parallel pretraining on this machine: 1 process × 2 threads against 2 processes × 1 thread
// (c10d/gloo on loopback, gather and global BN on), on the default recipe (Fashion-MNIST,
// ResNet-18 CIFAR stem width 0.25, global batch 256). Prints JSON: views/s of each, and for the
// 2-process run the share of rank 0's step time spent in collectives (which includes waiting for
// the slower worker), beside the same step's collectives alone: two workers calling them back to
// back, with no compute between them (the communication's own cost, without the waiting).
//   node dist/bench/distributed.js [--steps 40]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuFlags } from '../src/info.js';
import { allReduceGradients } from '../src/distributed/data-parallel.js';
import { freePort, workerEnv } from '../src/distributed/launch.js';
import { ProcessGroup } from '../src/distributed/process-group.js';
import { BatchNorm } from '../src/nn/layers.js';
import { pretrainDefaults } from '../src/simclr/config.js';
import { applyRecipe } from '../src/simclr/recipe.js';
import { buildModel, modelConfig } from '../src/simclr/model.js';
import { randn, setNumThreads } from '../src/tensor/create.js';
import { tidy } from '../src/tensor/tensor.js';
import { option, repoRoot } from './common.js';

const steps = Number(option('--steps', '40'));
const batch = 256;
const warmup = 3;

function run(nproc: number, threads: number) {
  const out = mkdtempSync(join(tmpdir(), 'simclr-bench-dist-'));
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const args = ['pretrain', '--subset', String(steps * batch), '--epochs', '1', '--knn-every', '0', '--precision', 'fp32', '--nproc', String(nproc), '--threads', String(threads), '--overwrite', '--out', out];
  const summary = JSON.parse(execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').at(-1)!);
  const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step').slice(warmup);
  const seconds = records.reduce((s, r) => s + (2 * batch) / r.viewsPerSecond, 0);
  const comm = records.reduce((s, r) => s + (r.commSeconds ?? 0), 0);
  return {
    processes: nproc,
    threads_per_process: threads,
    views_per_s: (records.length * 2 * batch) / seconds,
    ...(nproc > 1 ? { comm_share: comm / seconds, comm_ms_per_step: (1000 * comm) / records.length } : {}),
    peak_rss_mb_rank0: summary.peakRssMb,
  };
}

/**
 * A worker of the collectives-alone run: a data-parallel step's collectives in its order — per
 * BatchNorm one gather forward, z's gather, their backward in reverse, the gradient bucket with its
 * carried numbers — on tensors of the step's sizes. Rank 0 prints milliseconds per step.
 */
function collectivesWorker(): void {
  const w = workerEnv()!;
  setNumThreads(1);
  const group = ProcessGroup.init({ masterAddr: w.masterAddr, masterPort: w.masterPort, rank: w.rank, worldSize: w.worldSize });
  const c = applyRecipe(pretrainDefaults, 28);
  const model = buildModel(modelConfig(c, 1));
  const channels = [...model.namedModules()].flatMap(([, m]) => (m instanceof BatchNorm ? [m.numFeatures] : []));
  const params = model.parameters();
  const stats = channels.map((ch) => randn([1, 2 * ch]).requiresGrad_(true));
  const z = randn([(2 * batch) / w.worldSize, c.projectionDim]).requiresGrad_(true);
  const step = () =>
    tidy(() => {
      const gathered = [...stats, z].map((t) => group.allGatherWithGrad(t).sum());
      gathered.reduce((a, b) => a.add(b)).backward();
      allReduceGradients(group, params, { carry: [0, 0] });
    });
  for (let i = 0; i < warmup; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - t0) / steps;
  const collectives = group.stats().collectives / (steps + warmup);
  group.destroy();
  if (w.rank === 0) console.log(JSON.stringify({ ms_per_step: ms, collectives_per_step: collectives }));
}

async function collectivesAlone(): Promise<{ ms_per_step: number; collectives_per_step: number }> {
  const env = { ...process.env, WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(await freePort()) };
  const outputs = await Promise.all(
    [0, 1].map(
      (rank) =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, [process.argv[1]!, '--steps', String(steps)], { env: { ...env, RANK: String(rank) }, stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`collectives worker ${rank} exited with ${code}`))));
        }),
    ),
  );
  return JSON.parse(outputs[0]!.trim());
}

if (workerEnv() !== null) {
  collectivesWorker();
} else {
  const one = run(1, 2);
  const two = run(2, 1);
  const alone = await collectivesAlone();
  const stepMs = two.comm_ms_per_step! / two.comm_share!;
  console.log(JSON.stringify({
    bench: 'distributed',
    cpu: cpuFlags(),
    batch,
    steps,
    one_process: one,
    two_processes: two,
    speedup: two.views_per_s / one.views_per_s,
    // What the collectives would take of the 2-process step without any waiting for the other worker.
    collectives_alone: { ...alone, share_of_two_process_step: alone.ms_per_step / stepMs },
  }, null, 2));
}
