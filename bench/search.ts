// Query latency of image search: k = 8 nearest of 100,000 unit vectors (128-d, the quickstart
// encoder's h) by cosine similarity, one exact matmul (search/image-index.ts), and the time to embed
// one query image (decode, encoder forward) with the quickstart's encoder architecture. Prints JSON
// with the median and 95th percentile over the queries.
//   node dist/bench/search.js [--vectors 100000] [--dim 128] [--queries 200] [--threads 2]
import { cpus } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as F from '../src/tensor/functional.js';
import { manualSeed, randn, setNumThreads } from '../src/tensor/create.js';
import { resnet } from '../src/models/resnet.js';
import { decodeQueries, embedQueries, nearestNeighbours } from '../src/search/image-index.js';
import { option } from './common.js';

const count = Number(option('--vectors', '100000'));
const dim = Number(option('--dim', '128'));
const queries = Number(option('--queries', '200'));
const threads = Number(option('--threads', '2'));
setNumThreads(threads);
manualSeed(0);
const bank = F.normalize(randn([count, dim]), { dim: 1 });
const percentiles = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)]!, p95Ms: sorted[Math.floor(sorted.length * 0.95)]! };
};
const search: number[] = [];
for (let i = 0; i < queries + 5; i++) {
  const q = randn([1, dim]);
  const t = performance.now();
  nearestNeighbours(q, bank, 8, { normalisedBank: true });
  if (i >= 5) search.push(performance.now() - t);
  q.dispose();
}
// one 32×32 PNG query through decode and the quickstart's encoder shape (ResNet-18 CIFAR stem ×0.25, 1 channel, 28 px)
const file = join(mkdtempSync(join(tmpdir(), 'simclr-bench-search-')), 'query.png');
await sharp(Buffer.alloc(32 * 32 * 3, 90), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(file);
const encoder = resnet(18, { cifarStem: true, widthMultiplier: 0.25, inChannels: 1 });
const embed: number[] = [];
for (let i = 0; i < 25; i++) {
  const t = performance.now();
  const images = await decodeQueries([file], 28, 1);
  embedQueries(encoder, images, 28).dispose();
  images.dispose();
  if (i >= 5) embed.push(performance.now() - t);
}
console.log(JSON.stringify({
  bench: 'search',
  cpu: cpus()[0]?.model,
  threads,
  vectors: count,
  dim,
  k: 8,
  search: percentiles(search),
  embedQuery: percentiles(embed),
}, null, 2));
