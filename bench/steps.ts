// The two trainings of bench/fidelity step by step: PyTorch's (bench/torch_steps.py) and simclr's
// from the same initial weights (PyTorch's, loaded here) on the same views (one epoch that
// torchvision's pipeline drew for the colour set, bench/torch_simclr.py --dump-views), with the same
// schedule. Prints JSON: the loss of every step on each side — simclr in PyTorch's row-major layout
// and in its default channels-last — and the largest difference to PyTorch's.
//   node dist/bench/steps.js [--seed 1] [--steps 12] [--dir runs/steps]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { colourFolder } from './colour32.js';
import { openViewsFile, option, repoRoot, torchPython } from './common.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { Adam } from '../src/optim/adam.js';
import { warmupCosine } from '../src/optim/schedule.js';
import { buildModel } from '../src/simclr/model.js';
import { ntXentLoss } from '../src/simclr/nt-xent.js';
import { setNumThreads } from '../src/tensor/create.js';
import { tidy, type MemoryFormat } from '../src/tensor/tensor.js';

const seed = option('--seed', '1');
const steps = Number(option('--steps', '12'));
const dir = option('--dir', join(repoRoot, 'runs', 'steps'));
const py = torchPython();
if (py === null) throw new Error('bench/steps needs python3-torch and python3-torchvision (apt-get install -y python3-torch python3-torchvision)');
setNumThreads(2);
mkdirSync(dir, { recursive: true });
const folder = await colourFolder(20_000, { testCount: 10_000 });
const views = join(dir, 'views.u8');
const init = join(dir, 'init.safetensors');
const torchScript = (name: string, args: string[]) => execFileSync(py, [join(repoRoot, 'bench', name), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
torchScript('torch_simclr.py', ['--epochs', '1', '--workers', '0', '--threads', '2', '--seed', seed, '--folder', folder, '--strength', '0.5', '--dump-views', views]);
const pytorch = JSON.parse(torchScript('torch_steps.py', ['--views', views, '--init-out', init, '--steps', String(steps), '--seed', seed]).trim()) as number[];

function simclrLosses(layout: MemoryFormat): number[] {
  const model = buildModel({ depth: 18, cifarStem: true, width: 0.25, inChannels: 3, head: 'v1', headLayers: 2, hiddenDim: 0, projectionDim: 128 });
  const { tensors } = loadSafetensors(init);
  model.loadStateDict(tensors, { strict: true });
  for (const t of tensors.values()) t.dispose();
  model.to({ memoryFormat: layout });
  model.train();
  const optimizer = new Adam(model.parameters(), { lr: 1e-3, weightDecay: 1e-6 });
  const file = openViewsFile(views);
  const total = file.shape.steps;
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    optimizer.setLearningRate(warmupCosine({ peak: 1e-3, warmupSteps: Math.round(0.1 * total), totalSteps: total }, step));
    losses.push(
      tidy(() => {
        const x = file.step(step).contiguous(layout);
        optimizer.zeroGrad();
        const loss = ntXentLoss(model.forward(x), { temperature: 0.5 });
        loss.backward();
        optimizer.step();
        return loss.item();
      }),
    );
  }
  file.close();
  optimizer.dispose();
  model.dispose();
  return losses;
}

const rowMajor = simclrLosses('contiguous');
const channelsLast = simclrLosses('channels_last');
const largest = (a: number[]) => Math.max(...a.map((v, i) => Math.abs(v - pytorch[i]!)));
console.log(JSON.stringify({ bench: 'steps', seed: Number(seed), steps, pytorch, simclrRowMajor: rowMajor, simclrChannelsLast: channelsLast, maxDifference: { rowMajor: largest(rowMajor), channelsLast: largest(channelsLast) } }, null, 2));
