// Writes ResNet-18 checkpoints (standard and CIFAR stem) with simclr, then has PyTorch load them
// into torchvision.models.resnet18() and compare outputs (scripts/check_torchvision_load.py).
//   npm run check:torchvision      (needs python3-torch and python3-torchvision)
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed, randn, resnet, saveSafetensors, tidy } from '../src/index.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'simclr-torchvision-'));
manualSeed(0);
for (const [name, cifarStem] of [['standard', false], ['cifar', true]] as const) {
  const model = resnet(18, { cifarStem, numClasses: 1000 });
  // one train-mode forward so the BN statistics are not the trivial initial ones
  tidy(() => void model.forward(randn([8, 3, 32, 32])));
  model.eval();
  model.save(join(dir, `${name}.safetensors`));
  tidy(() => {
    const input = randn([2, 3, 32, 32]);
    saveSafetensors(join(dir, `${name}.io.safetensors`), { input, output: model.forward(input) });
  });
  model.dispose();
}
const out = execFileSync('/usr/bin/python3', [join(root, 'scripts', 'check_torchvision_load.py'), dir], { encoding: 'utf8' });
process.stdout.write(out);
