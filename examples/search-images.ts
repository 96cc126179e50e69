// Image search inside an application: load a trained encoder, embed a folder once, then find the
// images nearest to a query by cosine similarity of h. What `simclr index` and `simclr similar` do.
//   node dist/examples/search-images.js <run folder | encoder.safetensors> <image folder> <query image> [k]
import { loadEncoder, openSource, buildIndex, decodeQueries, embedQueries, nearestNeighbours } from 'simclr';

const [encoderPath, folder, query, k = '5'] = process.argv.slice(2);
if (query === undefined) throw new Error('usage: search-images.js <run folder | encoder.safetensors> <image folder> <query image> [k]');

const { encoder, architecture } = loadEncoder(encoderPath!);
const size = architecture.imageSize;
// Every image of the folder (no held-out split), prepared at the encoder's input size.
const source = await openSource(folder!, { size, testFraction: 0 });
const index = await buildIndex(encoder, source, { imageSize: size, inChannels: architecture.inChannels, checkpoint: encoderPath! });
// (saveIndex(path, index) keeps it for later, loadIndex(path) reads it back: the file `simclr index` writes.)

const images = await decodeQueries([query], size, architecture.inChannels as 1 | 3);
const h = embedQueries(encoder, images, size);
const [hits] = nearestNeighbours(h, index.vectors, Number(k), { normalisedBank: true });
for (const [rank, row] of hits!.index.entries()) {
  const label = index.labels && index.classNames ? `  (${index.classNames[index.labels[row]!]})` : '';
  console.log(`${hits!.similarity[rank]!.toFixed(4)}  ${index.files[row]}${label}`);
}

for (const t of [h, images, index.vectors, index.thumbnails]) t.dispose();
source.dispose?.();
encoder.dispose();
