// End-to-end pretraining throughput (ResNet-18 CIFAR stem width 0.25, batch 256): views/s and peak
// RSS here, the compute-only limit (forward, backward and step on one pre-augmented batch), and
// PyTorch's implementation of the same recipe (bench/torch_simclr.py, torchvision's per-image
// transforms) with its DataLoader at 0 and 2 workers, default and tuned malloc (its peak RSS: the
// main process plus the workers, peak_rss_total_mb), in float32 and with bf16 autocast. simclr
// runs with --precision auto (the default; --precision fp32|bf16 forces one) and the JSON says
// which it chose, with both precisions' step times; the compute-only rate uses the same. JSON.
//   --data fashion-mnist (default): the default recipe, 28 px, 1 channel, s = 1.
//   --data colour: an image folder of 32×32 colour JPEGs (bench/colour32.ts, made once from
//     Fashion-MNIST; --images N of them, default steps × 256), 3 channels, s = 0.5, no blur.
//     PyTorch reads it with ImageFolder (PIL decodes each JPEG per sample); simclr decodes the folder
//     once into its cache (~/.cache/simclr), which this script fills before the timed run.
//   --data photos --folder DIR [--image-size 96]: a labelled photo folder (DIR/train; scripts/imagenette.sh
//     makes one), the photo recipe: views cut from the whole photo (simclr: its frames, shorter side
//     at most 3.5× the view; PyTorch: RandomResizedCrop on each decoded photo), the ImageNet stem,
//     s = 1, blur p 0.5.
// Every views/s is the wall-clock rate over the steps after the first 3 (for simclr from the step
// records' times in metrics.jsonl), which excludes start-up and the data set's loading or decoding.
//   node dist/bench/pretrain.js [--data fashion-mnist|colour|photos] [--folder DIR] [--image-size N] [--steps 40] [--images N]
//                               [--threads N] [--workers 0,2] [--precision auto] [--no-torch]
//                               [--torch-precisions fp32,bf16] [--rounds 1]
// --torch-precisions picks PyTorch's runs; by default bf16 only where the CPU has bf16 instructions:
// elsewhere its bf16 autocast is emulated (~20× slower than float32 on an AVX2 CPU) and its 40 steps
// would take an hour, so measure it apart there with fewer --steps. --rounds N runs every configuration N times in turn and
// keeps each one's fastest run: a VM's speed drifts (±15% over minutes on the 2-core development
// machines), so a single run of each can favour either side.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Adam } from '../src/optim/adam.js';
import { Random } from '../src/random.js';
import { fashionMnist } from '../src/data/idx.js';
import { openSource } from '../src/data/open.js';
import { loadFrames, type DataSource } from '../src/data/source.js';
import { SimCLRAugmentation } from '../src/augment/simclr-augmentation.js';
import { buildModel } from '../src/simclr/model.js';
import { contrastiveStep } from '../src/simclr/step.js';
import { getNumThreads, manualSeed, setNumThreads, tidy } from '../src/index.js';
import { option, repoRoot, torchPython, TUNED_MALLOC } from './common.js';
import { colourFolder } from './colour32.js';
import { cpuFlags } from '../src/info.js';

const steps = Number(option('--steps', '40'));
const batch = 256;
if (process.argv.includes('--threads')) setNumThreads(Number(option('--threads', '0')));
const threads = getNumThreads();
const workerCounts = option('--workers', '0,2').split(',').map(Number);
const WARMUP_STEPS = 3;
const precision = option('--precision', 'auto');
const rounds = Number(option('--rounds', '1'));
if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`--rounds must be a positive integer (got ${option('--rounds', '1')})`);
const nativeBf16 = cpuFlags().flags.some((f) => f === 'avx512_bf16' || f === 'amx_bf16');
const torchPrecisions = option('--torch-precisions', nativeBf16 ? 'fp32,bf16' : 'fp32').split(',');
for (const p of torchPrecisions) if (p !== 'fp32' && p !== 'bf16') throw new RangeError(`--torch-precisions takes fp32 and/or bf16 (got ${p})`);

/** What differs between the data sets: how each side is pointed at them, and the view recipe. */
interface BenchData {
  name: string;
  size: number;
  channels: number;
  strength: number;
  cifarStem: boolean;
  blur: number;
  /** Extra `simclr pretrain` flags and bench/torch_simclr.py flags. */
  cliArgs: string[];
  torchArgs: string[];
  /** The training split, opened here (for a folder this also fills simclr's decode cache). */
  source: DataSource;
  folder?: string;
  images?: number;
}

async function benchData(name: string): Promise<BenchData> {
  if (name === 'fashion-mnist') return { name, size: 28, channels: 1, strength: 1, cifarStem: true, blur: 0, cliArgs: [], torchArgs: [], source: fashionMnist('train') };
  if (name === 'photos') {
    const folder = option('--folder', '');
    if (folder === '') throw new Error('--data photos needs --folder DIR (a labelled photo folder with train/: scripts/imagenette.sh makes one)');
    const size = Number(option('--image-size', '96'));
    // simclr cuts its crops from frames of up to 3.5× the view, the whole photo here, as PyTorch cuts them from the decoded photo
    const sourceScale = 3.5;
    const source = await openSource(folder, { split: 'train', size, sourceScale });
    if (source.size < steps * batch) throw new RangeError(`${folder} has ${source.size} training images, fewer than the ${steps} steps × ${batch} need`);
    const recipe = ['--image-size', String(size), '--strength', '1', '--blur', '0.5'];
    return { name, size, channels: 3, strength: 1, cifarStem: false, blur: 0.5, cliArgs: ['--data', folder, ...recipe, '--cifar-stem', 'false', '--source-scale', String(sourceScale)], torchArgs: ['--folder', folder, ...recipe, '--stem', 'imagenet'], source, folder, images: source.size };
  }
  if (name === 'colour') {
    const images = Number(option('--images', String(steps * batch)));
    if (images < steps * batch) throw new RangeError(`--images ${images} is fewer than the ${steps} steps × ${batch} need`);
    const folder = await colourFolder(images);
    const strength = 0.5;
    return {
      name,
      size: 32,
      channels: 3,
      strength,
      cifarStem: true,
      blur: 0,
      cliArgs: ['--data', folder, '--image-size', '32', '--strength', String(strength)],
      torchArgs: ['--folder', folder, '--strength', String(strength)],
      source: await openSource(folder, { split: 'train', size: 32 }),
      folder,
      images,
    };
  }
  throw new Error(`--data must be fashion-mnist, colour or photos (got ${name})`);
}

function ours(data: BenchData): { views_per_s: number; data_share: number; peak_rss_mb: number; timed_steps: number; precision: string; precision_choice: unknown } {
  const out = mkdtempSync(join(tmpdir(), 'simclr-bench-'));
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const args = [cli, 'pretrain', ...data.cliArgs, '--subset', String(steps * batch), '--epochs', '1', '--knn-every', '0', '--threads', String(threads), '--precision', precision, '--overwrite', '--out', out];
  const summary = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  const all = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const records = all.filter((r) => r.type === 'step');
  const choice = all.find((r) => r.type === 'precision') ?? null;
  const used = (JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { precision: string }).precision;
  rmSync(out, { recursive: true, force: true });
  // Wall-clock from the end of the warm-up steps to the end of the last: everything the loop does.
  const from = records[WARMUP_STEPS - 1]!;
  const to = records.at(-1)!;
  const timedSteps = to.globalStep - from.globalStep;
  const wall = to.time - from.time;
  // The share of that time the data pipeline took (waiting for batches, augmenting): what keeps the
  // loop from the compute-only rate, measured on the same steps (immune to the VM's speed drifts).
  const dataSeconds = records.filter((r) => r.globalStep > from.globalStep).reduce((sum, r) => sum + r.dataSeconds, 0);
  return { views_per_s: (timedSteps * 2 * batch) / wall, data_share: dataSeconds / wall, peak_rss_mb: summary.peakRssMb, timed_steps: timedSteps, precision: used, precision_choice: choice };
}

async function computeOnly(data: BenchData, bf16: boolean): Promise<number> {
  manualSeed(0);
  const model = buildModel({ depth: 18, cifarStem: data.cifarStem, width: 0.25, inChannels: data.channels, head: 'v1', headLayers: 3, hiddenDim: 0, projectionDim: 128 }).to({ memoryFormat: 'channels_last' });
  const optimizer = new Adam(model.parameters(), { lr: 1e-3, weightDecay: 1e-6 });
  const frames = await loadFrames(data.source, Int32Array.from({ length: batch }, (_, i) => i));
  const views = new SimCLRAugmentation({ size: data.size, strength: data.strength, blurP: data.blur }).pair(frames, new Random(0)).contiguous('channels_last');
  frames.dispose();
  const step = () =>
    tidy(() => {
      optimizer.zeroGrad();
      contrastiveStep(model, views, 0.5, 0, bf16);
      optimizer.step();
    });
  // Timed as the end-to-end run is: the mean over the steps after the warm-up ones.
  for (let i = 0; i < WARMUP_STEPS; i++) step();
  const timedSteps = 10;
  const start = performance.now();
  for (let i = 0; i < timedSteps; i++) step();
  return (timedSteps * 2 * batch) / ((performance.now() - start) / 1000);
}

function pytorch(data: BenchData, workers: number, tuned: boolean, bf16: boolean): Run {
  const py = torchPython();
  if (py === null) return null;
  const args = [join(repoRoot, 'bench', 'torch_simclr.py'), ...data.torchArgs, '--steps', String(steps), '--workers', String(workers), '--threads', String(threads), ...(bf16 ? ['--bf16'] : [])];
  const out = execFileSync(py, args, { encoding: 'utf8', env: { ...process.env, ...(tuned ? TUNED_MALLOC : {}) }, stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const data = await benchData(option('--data', 'fashion-mnist'));
/** A PyTorch run's figures (null: no PyTorch here). */
type Run = { views_per_s: number; peak_rss_total_mb: number } | null;
/** The faster of two runs of one configuration (the first round has none to compare with). */
const faster = <T extends { views_per_s: number } | null>(kept: T | undefined, run: T): T => (kept === undefined || (run !== null && (kept === null || run.views_per_s > kept.views_per_s)) ? run : kept);
let simclr: ReturnType<typeof ours> | undefined;
let computeOnlyRate = 0;
const runs: Record<string, Run> = {};
const withTorch = !process.argv.includes('--no-torch');
for (let round = 0; round < rounds; round++) {
  simclr = faster(simclr, ours(data));
  computeOnlyRate = Math.max(computeOnlyRate, await computeOnly(data, simclr.precision === 'bf16'));
  if (!withTorch) continue;
  for (const bf16 of torchPrecisions.map((p) => p === 'bf16')) {
    for (const tuned of [false, true]) {
      for (const workers of workerCounts) {
        const key = `${bf16 ? 'bf16_' : ''}${tuned ? 'tuned' : 'default'}_malloc_workers${workers}`;
        runs[key] = faster(runs[key], pytorch(data, workers, tuned, bf16));
      }
    }
  }
}
const result: Record<string, unknown> = {
  bench: 'pretrain',
  cpu: cpuFlags(),
  data: { name: data.name, image_size: data.size, channels: data.channels, strength: data.strength, ...(data.folder ? { folder: data.folder, images: data.images } : {}) },
  threads,
  batch,
  steps,
  rounds,
  simclr,
  simclr_compute_only_views_per_s: computeOnlyRate,
};
if (withTorch) {
  result.pytorch = runs;
  // The better DataLoader setting under each malloc, and our end-to-end rate against the best of all.
  const rate = (r: Run | undefined) => r?.views_per_s ?? 0;
  const bestOf = (prefix: string) => {
    const key = Object.keys(runs).filter((k) => k.startsWith(prefix)).sort((a, b) => rate(runs[b]) - rate(runs[a]))[0];
    return key === undefined || runs[key] === null ? null : { run: key, views_per_s: rate(runs[key]) };
  };
  result.pytorch_best = { default_malloc: bestOf('default'), tuned_malloc: bestOf('tuned'), bf16_default_malloc: bestOf('bf16_default'), bf16_tuned_malloc: bestOf('bf16_tuned') };
  // Against the fastest PyTorch run in either precision, and against the fastest float32 one.
  const ourRate = simclr!.views_per_s;
  const top = Math.max(...Object.values(runs).map(rate));
  const topFp32 = Math.max(...Object.entries(runs).filter(([k]) => !k.startsWith('bf16')).map(([, r]) => rate(r)));
  result.simclr_vs_pytorch_best = top > 0 ? ourRate / top : null;
  result.simclr_vs_pytorch_best_fp32 = topFp32 > 0 ? ourRate / topFp32 : null;
  // Peak RSS against the leanest PyTorch run, its DataLoader workers included.
  const totals = Object.values(runs).flatMap((r) => (r === null ? [] : [r.peak_rss_total_mb]));
  result.simclr_peak_rss_vs_pytorch_lowest = totals.length > 0 ? simclr!.peak_rss_mb / Math.min(...totals) : null;
}
console.log(JSON.stringify(result, null, 2));
