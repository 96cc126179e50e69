// Where one step of the default recipe spends its time: libtorch's autograd profiler (src/profiler.ts)
// over a few steps of `simclr pretrain`'s defaults (Fashion-MNIST, ResNet-18 CIFAR stem ×0.25,
// batch 256, Adam, channels-last), each step's phases named: augmentation (T), forward (f and g),
// loss (NT-Xent), backward, optimizer. Prints JSON: ms per step by phase (wall time, unprofiled
// steps; and the operators' self time in each, profiled) and by kind of work
// (convolution, batch norm, elementwise, layout and copies, …), their shares of the profiled time,
// and the operators with the most self time. `--precision bf16`: the step as `--precision bf16`
// trains it (bfloat16 autocast around f and g).
//   node dist/bench/profile.js [--steps 5] [--threads 2] [--precision fp32|bf16]
import { fashionMnist } from '../src/data/idx.js';
import { Random } from '../src/random.js';
import { pretrainDefaults } from '../src/simclr/config.js';
import { applyRecipe } from '../src/simclr/recipe.js';
import { buildModel, modelConfig } from '../src/simclr/model.js';
import { ntXentLoss } from '../src/simclr/nt-xent.js';
import { configViews } from '../src/simclr/pretrain.js';
import { buildOptimizer, projections } from '../src/simclr/step.js';
import { manualSeed, setNumThreads, tidy } from '../src/index.js';
import { profile, profileRange, type OperatorTime } from '../src/profiler.js';
import { cpuFlags } from '../src/info.js';
import { option } from './common.js';

const steps = Number(option('--steps', '5'));
const threads = Number(option('--threads', '2'));
const precision = option('--precision', 'fp32');
if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision: ${precision} is not fp32 or bf16`);
setNumThreads(threads);
manualSeed(0);
const c = applyRecipe(pretrainDefaults, 28);
const source = fashionMnist('train');
const model = buildModel(modelConfig(c, 1));
model.to({ memoryFormat: 'channels_last' });
model.train();
const optimizer = buildOptimizer(model, c, c.lr);
const views = configViews(c, 28);
const images = source.loadSync!(new Random(0, 1).permutation(source.size).subarray(0, c.batchSize));

// Wall time of each phase (the augmentation's fused kernels are not dispatcher operators: the
// profiler does not see them).
const wall = new Map<string, number>();
function phase<T>(name: string, fn: () => T): T {
  const t = performance.now();
  try {
    return profileRange(name, fn);
  } finally {
    wall.set(name, (wall.get(name) ?? 0) + performance.now() - t);
  }
}

function step(i: number): void {
  tidy(() => {
    const x = phase('augmentation', () => views(images, { epoch: 0, step: i }).contiguous('channels_last'));
    optimizer.zeroGrad();
    const z = phase('forward', () => projections(model, x, precision === 'bf16'));
    const loss = phase('loss', () => ntXentLoss(z, { temperature: c.temperature }));
    phase('backward', () => loss.backward());
    phase('optimizer', () => optimizer.step());
    loss.item();
  });
}

for (let i = 0; i < 3; i++) step(i); // warm-up: oneDNN primitives, allocator caches
const t0 = performance.now();
const ops = profile(() => {
  for (let i = 0; i < steps; i++) step(3 + i);
});
const wallMs = (performance.now() - t0) / steps;
wall.clear();
const unprofiledStart = performance.now();
for (let i = 0; i < steps; i++) step(3 + steps + i);
const unprofiledMs = (performance.now() - unprofiledStart) / steps;
const wallByPhase = Object.fromEntries([...wall].map(([name, ms]) => [name, { msPerStep: ms / steps, share: ms / steps / unprofiledMs }]));

const perStep = (rows: OperatorTime[]) => rows.reduce((s, r) => s + r.selfMs, 0) / steps;
const profiled = perStep(ops);
const groupBy = (key: (r: OperatorTime) => string) => {
  const groups = new Map<string, OperatorTime[]>();
  for (const r of ops) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return Object.fromEntries([...groups].map(([k, rows]) => [k || '(outside the phases)', { msPerStep: perStep(rows), share: perStep(rows) / profiled }]).sort((a, b) => (b[1] as { msPerStep: number }).msPerStep - (a[1] as { msPerStep: number }).msPerStep));
};
console.log(JSON.stringify({
  bench: 'profile',
  cpu: cpuFlags(),
  threads,
  precision,
  batch: c.batchSize,
  steps,
  stepMs: unprofiledMs,
  profiledStepMs: wallMs,
  profiledOperatorMsPerStep: profiled,
  wallByPhase,
  operatorsByPhase: groupBy((r) => r.phase),
  byKind: groupBy((r) => r.kind),
  topOperators: ops.slice(0, 15).map((r) => ({ name: r.name, phase: r.phase, kind: r.kind, callsPerStep: r.calls / steps, msPerStep: r.selfMs / steps })),
}, null, 2));
images.dispose();
optimizer.dispose();
