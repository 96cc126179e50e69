// The exported encoder without this library: `simclr export --checkpoint <run> --out encoder.onnx`,
// then onnxruntime-node (npm install onnxruntime-node sharp) runs it anywhere Node runs.
//   node dist/examples/onnx-runtime.js <encoder.onnx> <image> [image...]
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

const [model, ...files] = process.argv.slice(2);
if (model === undefined || files.length === 0) throw new Error('usage: onnx-runtime.js <encoder.onnx> <image> [image...]');

const session = await ort.InferenceSession.create(model);
// The input `images` is [batch, C, size, size]: float, 8-bit pixel values / 255, no mean/std.
const input = session.inputMetadata[0]!;
if (!input.isTensor) throw new Error(`${model}: its input is not a tensor`);
const [, channels, size] = input.shape as [unknown, number, number, number];

/** An image as the library prepares it: the centre square resampled to size × size (sharp's Lanczos here, the library's antialiased bilinear: close), RGB or gray, / 255, planar. */
async function prepare(file: string): Promise<Float32Array> {
  const { data } = await sharp(file)
    .rotate() // EXIF orientation
    .removeAlpha()
    .resize(size, size, { fit: 'cover', position: 'centre' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const planar = new Float32Array(channels * size * size);
  for (let i = 0; i < size * size; i++) for (let c = 0; c < channels; c++) planar[c * size * size + i] = data[i * channels + c]! / 255;
  return planar;
}

const pixels = new Float32Array(files.length * channels * size * size);
for (const [i, file] of files.entries()) pixels.set(await prepare(file), i * channels * size * size);
const output = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', pixels, [files.length, channels, size, size]) });
const h = output[session.outputNames[0]!]!;
const dim = h.dims[1]!;
const vectors = files.map((_, i) => {
  const v = (h.data as Float32Array).subarray(i * dim, (i + 1) * dim);
  const norm = Math.hypot(...v);
  return Array.from(v, (x) => x / norm);
});
console.log(`${session.outputNames[0]} of ${files.length} image(s): [${h.dims.join(', ')}]`);
// Cosine similarity of the first image's h to each image's.
for (const [i, file] of files.entries()) console.log(`${vectors[0]!.reduce((s, x, j) => s + x * vectors[i]![j]!, 0).toFixed(4)}  ${file}`);
await session.release();
