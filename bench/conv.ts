// Convolution throughput on this CPU: every convolution of the default recipe's encoder (ResNet-18
// CIFAR stem ×0.25, 512 views of 28×28) forward and backward as the step runs it (channels-last;
// the stem computes no input gradient, its input being the views),
// and oneDNN's rate on a wide layer (64×256×14×14, 3×3) — what its kernels attain when the shapes
// suit them. Then the whole training step's effective rate (the encoder's convolution GFLOP per
// step over the step's time: everything that is not convolution counts against it) beside the wide
// layer's, measured in turn for `--rounds` rounds: this machine's speed drifts by 20% within
// minutes, so a ratio of two runs made minutes apart says little. Prints JSON: per layer shape the
// calls per step, milliseconds and GFLOP/s, the encoder's convolutions in all (their time per step
// and effective GFLOP/s), the wide layer's rate and the ratio of the two; per round the step's
// time, its effective rate and the wide layer's, and the median of their ratio.
//   node dist/bench/conv.js [--threads 2] [--reps 5] [--rounds 5]
import * as F from '../src/tensor/functional.js';
import { randn, setNumThreads } from '../src/tensor/create.js';
import { tidy } from '../src/tensor/tensor.js';
import { Conv2d } from '../src/nn/layers.js';
import { resnet } from '../src/models/resnet.js';
import { cpuFlags } from '../src/info.js';
import { best, median, option } from './common.js';
import { defaultStep } from './default-step.js';

const threads = Number(option('--threads', '2'));
const reps = Number(option('--reps', '5'));
const rounds = Number(option('--rounds', '5'));
setNumThreads(threads);

interface Shape {
  batch: number;
  inC: number;
  outC: number;
  size: number;
  kernel: number;
  stride: number;
  padding: number;
  /** Whether the backward computes the input's gradient (all but the first layer). */
  inputGradient: boolean;
}

/** Milliseconds of one forward + backward in channels-last, and its GFLOP (2·MAC; each gradient costs a forward). */
function measure(s: Shape): { ms: number; gflop: number } {
  return tidy(() => {
    const x = randn([s.batch, s.inC, s.size, s.size]).contiguous('channels_last').requiresGrad_(s.inputGradient);
    const w = randn([s.outC, s.inC, s.kernel, s.kernel]).contiguous('channels_last').requiresGrad_(true);
    const out = Math.floor((s.size + 2 * s.padding - s.kernel) / s.stride) + 1;
    const ms = best(() => tidy(() => F.conv2d(x, w, null, { stride: s.stride, padding: s.padding }).sum().backward()), reps) * 1e3;
    const forwardGflop = (2 * s.batch * s.outC * out * out * s.inC * s.kernel * s.kernel) / 1e9;
    return { ms, gflop: (s.inputGradient ? 3 : 2) * forwardGflop };
  });
}

// The encoder's convolutions with the sizes they see: follow a 28-px input through the model.
const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels: 1 });
const shapes = new Map<string, { shape: Shape; calls: number }>();
let size = 28;
let blockInput = size;
for (const [name, m] of encoder.namedModules()) {
  if (!(m instanceof Conv2d)) continue;
  // (a block's downsample sees the block's input; its other convolutions run in sequence)
  if (name.endsWith('.conv1')) blockInput = size;
  const downsample = name.includes('downsample');
  const inSize = downsample ? blockInput : size;
  const shape: Shape = { batch: 512, inC: m.inChannels, outC: m.outChannels, size: inSize, kernel: m.kernelSize[0], stride: m.stride[0], padding: m.padding[0], inputGradient: name !== 'conv1' };
  if (!downsample) size = Math.floor((inSize + 2 * m.padding[0] - m.kernelSize[0]) / m.stride[0]) + 1;
  const key = JSON.stringify(shape);
  shapes.set(key, { shape, calls: (shapes.get(key)?.calls ?? 0) + 1 });
}
let totalMs = 0;
let totalGflop = 0;
const layers = [...shapes.values()].map(({ shape, calls }) => {
  const { ms, gflop } = measure(shape);
  totalMs += calls * ms;
  totalGflop += calls * gflop;
  return { ...shape, calls, ms, gflopPerS: gflop / (ms / 1e3) };
});
const wideShape: Shape = { batch: 64, inC: 256, outC: 256, size: 14, kernel: 3, stride: 1, padding: 1, inputGradient: true };
const wide = measure(wideShape);
const encoderRate = totalGflop / (totalMs / 1e3);
const wideRate = wide.gflop / (wide.ms / 1e3);

const step = defaultStep();
step(); // (oneDNN's primitives, the allocator's cache)
const stepRounds = Array.from({ length: rounds }, () => {
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) step();
  const stepMs = (performance.now() - t0) / 3; // (the mean: a step's rate is what training gets; the wide layer's, the best oneDNN attains)
  const wideNow = measure(wideShape);
  const stepRate = totalGflop / (stepMs / 1e3);
  const wideNowRate = wideNow.gflop / (wideNow.ms / 1e3);
  return { step_ms: stepMs, step_gflop_per_s: stepRate, wide_gflop_per_s: wideNowRate, ratio: stepRate / wideNowRate };
});
console.log(JSON.stringify({
  bench: 'conv',
  cpu: cpuFlags(),
  threads,
  layers,
  encoder: { msPerStep: totalMs, gflopPerStep: totalGflop, gflopPerS: encoderRate },
  wideLayer: { shape: '64×256×14×14, 3×3, 256 out', ms: wide.ms, gflopPerS: wideRate },
  encoderOverWide: encoderRate / wideRate,
  step: { rounds: stepRounds, medianStepOverWide: median(stepRounds.map((r) => r.ratio)) },
}, null, 2));
