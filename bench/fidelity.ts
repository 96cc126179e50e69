// Fidelity: one recipe (simclr pretrain's defaults until 2026-11-29) trained here and by a PyTorch implementation of it
// (bench/torch_simclr.py) for several seeds, every encoder then scored by the same linear probe and
// kNN (all labels), beside the randomly initialised encoder. Prints JSON: per variant the mean and
// standard deviation over the seeds, and its difference to simclr's mean.
//   --data fashion-mnist   Fashion-MNIST, 5 epochs, ResNet-18 CIFAR stem width 0.25, batch 256, τ 0.5,
//                          Adam 1e-3, warm-up + cosine, s = 1, no blur
//   --data colour          the same on a folder of 32×32 colour JPEGs (bench/colour32.ts: 20,000
//                          training and 10,000 test images) with s = 0.5, the paper's CIFAR recipe
//   --data photos --folder DIR   the photo recipe on a labelled photo folder (DIR/train and DIR/val or
//                          DIR/test; scripts/imagenette.sh makes one): 96-px views cut from the whole
//                          photo, the ImageNet stem, blur p 0.5, s = 1 (ColorJitter(0.8, 0.8, 0.8, 0.2)
//                          on both sides), τ 0.2, Adam 4e-3, warm-up 0.5 epochs + cosine, 20 epochs;
//                          PyTorch reads the JPEGs with ImageFolder and cuts RandomResizedCrop(96)
//                          from each decoded photo, as its users write it
// Variants: simclr; pytorch (torchvision's ResNet initialisation, as simclr's); pytorch-default-init
// (nn.Conv2d's default initialisation, which the PyTorch script used by accident until 2026-11-29:
// the swap that explained the gap); the augmentation swap (bench/swap-views.ts):
// simclr-on-torchvision-views (simclr's training on the views torchvision's pipeline drew for the
// PyTorch run of that seed) and pytorch-on-simclr-views (the converse); simclr-contiguous (simclr
// with the row-major layout PyTorch uses instead of channels-last); simclr-fp32 and simclr-bf16
// (the step's precision forced; simclr itself runs with --precision auto, which picks one of the
// two by timing, so its runs follow the CPU: the JSON says which). Trainings run two at a time,
// one thread each, longest first.
//   node dist/bench/fidelity.js [--data fashion-mnist|colour|photos] [--folder DIR] [--seeds 1,2,3]
//        [--variants simclr,simclr-fp32,simclr-bf16,pytorch,pytorch-default-init,simclr-on-torchvision-views,pytorch-on-simclr-views,simclr-contiguous]
//        [--dir runs/fidelity] [--skip-train]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { meanStd } from '../src/eval/evaluate.js';
import { colourFolder } from './colour32.js';
import { option, repoRoot, runToEnd, torchPython, twoAtATime, TUNED_MALLOC } from './common.js';

const dataName = option('--data', 'fashion-mnist');
if (dataName !== 'fashion-mnist' && dataName !== 'colour' && dataName !== 'photos') throw new Error(`--data must be fashion-mnist, colour or photos (got ${dataName})`);
if (dataName === 'photos' && option('--folder', '') === '') throw new Error('--data photos needs --folder DIR (a labelled photo folder: scripts/imagenette.sh makes one)');
const seeds = option('--seeds', '1,2,3').split(',').map(Number);
const variants = option('--variants', dataName === 'fashion-mnist' ? 'simclr,pytorch,pytorch-default-init' : 'simclr,pytorch').split(',');
const dir = option('--dir', join(repoRoot, 'runs', dataName === 'fashion-mnist' ? 'fidelity' : `fidelity-${dataName}`));
const skipTrain = process.argv.includes('--skip-train');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const py = torchPython();
if (py === null && variants.some((v) => v.startsWith('pytorch'))) throw new Error('the PyTorch variants need python3-torch and python3-torchvision (apt-get install -y python3-torch python3-torchvision)');

const folder = dataName === 'colour' ? await colourFolder(20_000, { testCount: 10_000 }) : dataName === 'photos' ? option('--folder', '') : null;
const data = folder ?? 'fashion-mnist';
// The recipe, spelled out (simclr's pretrain defaults may move on; the PyTorch script hard-codes the rest).
const epochs = dataName === 'photos' ? '20' : '5';
const common = ['--batch-size', '256', '--depth', '18', '--width', '0.25', '--optimizer', 'adam', '--lr-scaling', 'none', '--weight-decay', '1e-6', '--warmup-epochs', '0.5', '--min-scale', '0.08', '--head', 'v1', '--epochs', epochs];
const oursArgs = [
  ...common,
  ...(dataName === 'fashion-mnist' ? ['--temperature', '0.5', '--lr', '1e-3', '--strength', '1'] : []),
  ...(dataName === 'colour' ? ['--temperature', '0.5', '--lr', '1e-3', '--data', folder!, '--image-size', '32', '--cifar-stem', 'true', '--strength', '0.5'] : []),
  // (crops cut from the photo at its full 224 px, as torchvision's RandomResizedCrop cuts them: --source-scale 3.5 keeps up to 336)
  ...(dataName === 'photos' ? ['--temperature', '0.2', '--lr', '4e-3', '--data', folder!, '--image-size', '96', '--cifar-stem', 'false', '--blur', '0.5', '--strength', '1', '--source-scale', '3.5'] : []),
];
const torchArgs = [
  '--epochs',
  epochs,
  ...(dataName === 'colour' ? ['--folder', folder!, '--strength', '0.5'] : []),
  ...(dataName === 'photos' ? ['--folder', folder!, '--image-size', '96', '--stem', 'imagenet', '--blur', '0.5', '--strength', '1', '--tau', '0.2', '--lr', '4e-3', '--warmup-epochs', '0.5'] : []),
];
const recipe = {
  'fashion-mnist': 'fashion-mnist, s 1, 5 epochs, resnet18 cifar-stem width 0.25, batch 256, tau 0.5, adam 1e-3 wd 1e-6, warmup 10% + cosine, no blur',
  colour: 'colour 32x32 JPEG folder (20,000 train / 10,000 test), s 0.5, 5 epochs, resnet18 cifar-stem width 0.25, batch 256, tau 0.5, adam 1e-3 wd 1e-6, warmup 10% + cosine, no blur',
  photos: `photo folder ${folder}, 96-px views from the whole photo, s 1, blur p 0.5, 20 epochs, resnet18 imagenet-stem width 0.25, batch 256, tau 0.2, adam 4e-3 wd 1e-6, warmup 0.5 epochs + cosine`,
}[dataName];

const evaluate = (encoder: string, protocol: 'linear' | 'knn', extra: string[] = []) =>
  JSON.parse(execFileSync(process.execPath, [cli, 'eval', '--checkpoint', encoder, '--data', data, '--protocol', protocol, '--out', '/dev/null', '--quiet', ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!).accuracy as number;

const encoderFile = (variant: string, seed: number) => join(dir, `seed-${seed}`, variant, 'encoder.safetensors');
function training(variant: string, seed: number): () => Promise<void> {
  const out = join(dir, `seed-${seed}`, variant);
  const ours = ['--out', out, '--overwrite', '--seed', String(seed), '--threads', '1', '--knn-every', '0', '--quiet', ...oursArgs];
  const torch = (...extra: string[]) => [join(repoRoot, 'bench', 'torch_simclr.py'), '--workers', '0', '--threads', '1', '--seed', String(seed), ...torchArgs, ...extra];
  const torchEnv = { ...process.env, ...TUNED_MALLOC };
  const swap = join(repoRoot, 'dist', 'bench', 'swap-views.js');
  const viewsFile = join(out, 'views.u8');
  mkdirSync(out, { recursive: true });
  switch (variant) {
    case 'simclr':
      return () => runToEnd(process.execPath, [cli, 'pretrain', ...ours]);
    case 'simclr-fp32':
    case 'simclr-bf16':
      return () => runToEnd(process.execPath, [cli, 'pretrain', ...ours, '--precision', variant.slice('simclr-'.length)]);
    case 'simclr-contiguous':
      return () => runToEnd(process.execPath, [cli, 'pretrain', ...ours, '--no-channels-last']);
    case 'pytorch':
    case 'pytorch-default-init':
      return () => runToEnd(py!, torch('--init', variant === 'pytorch' ? 'torchvision' : 'default', '--out', encoderFile(variant, seed)), torchEnv);
    case 'simclr-on-torchvision-views':
      return async () => {
        await runToEnd(py!, torch('--dump-views', viewsFile), torchEnv);
        await runToEnd(process.execPath, [swap, 'train', viewsFile, ...ours]);
        rmSync(viewsFile);
      };
    case 'pytorch-on-simclr-views':
      return async () => {
        await runToEnd(process.execPath, [swap, 'dump', viewsFile, ...ours]);
        await runToEnd(py!, torch('--views', viewsFile, '--out', encoderFile(variant, seed)), torchEnv);
        rmSync(viewsFile);
      };
    default:
      throw new Error(`unknown variant ${variant} (simclr, simclr-fp32, simclr-bf16, pytorch, pytorch-default-init, simclr-on-torchvision-views, pytorch-on-simclr-views, simclr-contiguous)`);
  }
}

// Every training first, two at a time (one thread each: the most work out of 2 cores), PyTorch's
// (the longest) first; then every encoder scored.
const queue: (() => Promise<void>)[] = [];
for (const variant of [...variants].sort((a, b) => Number(a === 'simclr') - Number(b === 'simclr'))) {
  for (const seed of seeds) if (!skipTrain || !existsSync(encoderFile(variant, seed))) queue.push(training(variant, seed));
}
await twoAtATime(queue);

// (simclr's runs say the precision they trained in)
const precision = (v: string, seed: number) => {
  const file = join(dir, `seed-${seed}`, v, 'config.json');
  return existsSync(file) ? { precision: (JSON.parse(readFileSync(file, 'utf8')) as { precision?: string }).precision ?? 'fp32' } : {};
};
const scores = Object.fromEntries(variants.map((v) => [v, seeds.map((seed) => ({ seed, ...precision(v, seed), linear: evaluate(encoderFile(v, seed), 'linear'), knn: evaluate(encoderFile(v, seed), 'knn') }))]));
const summary = (v: string, protocol: 'linear' | 'knn') => meanStd(scores[v]!.map((r) => r[protocol]));
const first = encoderFile('simclr', seeds[0]!);
const result = {
  bench: 'fidelity',
  recipe,
  seeds,
  runs: scores,
  mean: Object.fromEntries(
    variants.map((v) => {
      const [linear, knn] = [summary(v, 'linear'), summary(v, 'knn')];
      const ours = variants.includes('simclr') ? { linear: summary('simclr', 'linear').mean, knn: summary('simclr', 'knn').mean } : null;
      return [v, { linear, knn, simclrMinusThis: ours && { linear: ours.linear - linear.mean, knn: ours.knn - knn.mean } }];
    }),
  ),
  randomInit: variants.includes('simclr') ? { linear: evaluate(first, 'linear', ['--baseline', 'random']), knn: evaluate(first, 'knn', ['--baseline', 'random']) } : null,
};
console.log(JSON.stringify(result, null, 2));
