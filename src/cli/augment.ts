// simclr augment: a preview grid of what T does to a data set.
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputFile } from './output.js';
import { imageFolderSides, openSource } from '../data/open.js';
import { loadFrames } from '../data/source.js';
import { chooseRecipe } from '../simclr/recipe.js';
import { pretrainDefaults } from '../simclr/config.js';
import { Random } from '../random.js';
import { augmentationPresets, SimCLRAugmentation, type AugmentationOptions } from '../augment/simclr-augmentation.js';
import { previewGrid } from '../augment/preview.js';
import type { Flags, Parsed } from './args.js';

const positive = (v: number) => (v > 0 ? null : 'must be positive');
const probability = (v: number) => (v >= 0 && v <= 1 ? null : 'must be a probability in [0, 1]');

export const augmentFlags = {
  data: { type: 'string', help: 'data source: fashion-mnist, an image folder, a CIFAR folder or an IDX file' },
  out: { type: 'string', default: 'preview.png', help: 'PNG file to write' },
  split: { type: 'string', default: 'train', choices: ['train', 'test'], help: 'split of data sets that have one' },
  size: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), defaultText: 'what pretrain\'s recipe would choose for the data', help: 'view side in pixels' },
  preset: { type: 'string', default: 'none', choices: ['none', 'imagenet', 'cifar'], help: 'the paper\'s recipe: imagenet (s 1, blur) or cifar (s 0.5, no blur); flags below override it' },
  strength: { type: 'number', default: 1, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'colour distortion strength s' },
  blur: { type: 'number', default: -1, check: (v) => (v === -1 || (v >= 0 && v <= 1) ? null : 'must be a probability (or -1 for automatic)'), help: 'Gaussian blur probability (-1: 0.5 above 32 px, else 0)' },
  images: { type: 'int', default: 8, check: positive, help: 'how many images (rows)' },
  pairs: { type: 'int', default: 3, check: positive, help: 'pairs of views per image' },
  zoom: { type: 'int', default: 0, check: (v) => (v >= 0 ? null : 'must be ≥ 0'), help: 'pixel zoom of the picture (0: enough for 96 px cells)' },
  seed: { type: 'int', default: 0, help: 'seed of the random views' },
  'skip-bad': { type: 'boolean', default: false, help: 'skip unreadable images with a warning instead of stopping' },
  'gray-p': { type: 'number', default: 0.2, check: probability, help: 'grayscale probability' },
} satisfies Flags;

export async function augmentCommand(o: Parsed<typeof augmentFlags>): Promise<number> {
  checkOutputFile('--out', o.out);
  const folder = o.size > 0 ? null : await imageFolderSides(o.data);
  const recipe = folder === null ? null : chooseRecipe({ ...pretrainDefaults, recipe: 'auto' }, folder.side, folder.sampled);
  const source = await openSource(o.data, { split: o.split as 'train' | 'test', size: o.size || recipe?.imageSize || 32, skipBad: o['skip-bad'] });
  const [, h, w] = source.imageShape;
  const size = o.size || Math.min(h, w);
  const base: AugmentationOptions = o.preset === 'imagenet' ? augmentationPresets.imagenet(size) : o.preset === 'cifar' ? augmentationPresets.cifar(size) : { size, strength: o.strength };
  const options: AugmentationOptions = { ...base, size, grayscaleP: o['gray-p'] };
  if (o.preset === 'none') options.strength = o.strength;
  if (o.blur >= 0) options.blurP = o.blur;
  const augmentation = new SimCLRAugmentation(options);
  const count = Math.min(o.images, source.size);
  const images = await loadFrames(source, Array.from({ length: count }, (_, i) => i));
  const png = await previewGrid(images, augmentation, new Random(o.seed), { pairs: o.pairs, zoom: o.zoom || Math.max(1, Math.ceil(96 / size)) });
  images.dispose();
  writeFileAtomic(o.out, [png]);
  console.log(JSON.stringify({ out: o.out, images: count, pairs: o.pairs, size, source: source.description, skipped: source.skipped }));
  source.dispose?.();
  return 0;
}
