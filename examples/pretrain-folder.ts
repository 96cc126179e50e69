// Pretraining on a folder of your images through the API, with progress of your own: what
// `simclr pretrain --data <folder>` runs, called from a program.
//   node dist/examples/pretrain-folder.js <image folder> [run folder] [epochs]
import { pretrain, pretrainDefaults } from 'simclr';

const [data, out = 'runs/example-folder', epochs = '2'] = process.argv.slice(2);
if (data === undefined) throw new Error('usage: pretrain-folder.js <image folder> [run folder] [epochs]');

const result = await pretrain(
  // Every option of `simclr pretrain`, camelCase; the recipe (view size, stem, blur) follows the images.
  { ...pretrainDefaults, data, out, epochs: Number(epochs), batchSize: 32 },
  {
    overwrite: true, // start this folder over on every run of the example (resume: true continues instead)
    // Progress lines: live ones redraw in place on a terminal; the others are phases' summaries.
    log: (line, live) => {
      if (!live) console.log(`[simclr] ${line}`);
    },
  },
);
console.log(JSON.stringify({
  stopped: result.stopped,
  imageSize: result.config.imageSize,
  lastLoss: result.lastLoss,
  knnAccuracy: result.knnAccuracy,
  encoder: result.encoderFile,
}));
result.model.dispose();
