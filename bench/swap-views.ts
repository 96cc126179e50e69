// The augmentation swap of bench/fidelity: each implementation trains on the other's views, so that
// a difference that follows the views is the augmentation's and one that stays is the training's.
// A views file holds every training view of a run in training order, uint8 [steps][2B][C][H][W]
// (rows i and i + B: the two views of image i); <file>.json gives its shape. bench/torch_simclr.py
// writes torchvision's (--dump-views) and trains on a file (--views).
//   node dist/bench/swap-views.js dump  <file> <pretrain flags…>   simclr's views of that run (T, rounded to uint8)
//   node dist/bench/swap-views.js train <file> <pretrain flags…>   simclr's pretraining on the file's views
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { openViewsFile, type ViewsShape } from './common.js';
import { parseFlags, givenFlags } from '../src/cli/args.js';
import { pretrainFlags, resolveConfig } from '../src/cli/pretrain-flags.js';
import { Loader } from '../src/data/loader.js';
import { openSplits } from '../src/data/open.js';
import { configViews, pretrain } from '../src/simclr/pretrain.js';
import { setNumThreads } from '../src/tensor/create.js';
import { tidy } from '../src/tensor/tensor.js';
import { Frames } from '../src/data/frames.js';

const [mode, file, ...rest] = process.argv.slice(2);
const flags = rest.filter((a) => a !== '--quiet');
if ((mode !== 'dump' && mode !== 'train') || file === undefined) throw new Error('usage: swap-views.js dump|train <file> <pretrain flags…>');
const config = resolveConfig(parseFlags(flags, pretrainFlags, 'swap-views'), givenFlags(flags));

if (mode === 'dump') {
  setNumThreads(config.threads || 1);
  const splits = await openSplits(config.data, { size: config.imageSize || 32, testFraction: config.testFraction, splitSeed: config.splitSeed });
  const [channels, height, width] = splits.train.imageShape;
  const size = config.imageSize || Math.min(height, width);
  const loader = new Loader(splits.train, { batchSize: config.batchSize, seed: config.seed, dropLast: true });
  const viewsOf = configViews(config, size);
  const fd = openSync(file, 'w');
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    for await (const batch of loader.epoch(epoch)) {
      const bytes = tidy(() => viewsOf(batch.frames, { epoch, step: batch.step }).mul(255).round().to('uint8').contiguous().toArray());
      writeSync(fd, bytes as Uint8Array);
      batch.frames.dispose();
    }
  }
  closeSync(fd);
  const shape: ViewsShape = { steps: config.epochs * loader.stepsPerEpoch, rows: 2 * config.batchSize, channels, size };
  writeFileSync(`${file}.json`, `${JSON.stringify(shape)}\n`);
  splits.dispose();
} else {
  const views = openViewsFile(file);
  const { shape } = views;
  const stepsPerEpoch = shape.steps / config.epochs;
  const result = await pretrain(config, {
    overwrite: true,
    log: null,
    views: (frames, { epoch, step }) => {
      const n = frames instanceof Frames ? frames.count : frames.size(0);
      if (n * 2 !== shape.rows) throw new Error(`${file}: holds steps of ${shape.rows} views; the run asks for ${2 * n}`);
      return views.step(epoch * stepsPerEpoch + step);
    },
  });
  views.close();
  console.log(JSON.stringify({ encoder: result.encoderFile, loss: result.lastLoss }));
}
