// What the report computes from features: a 2-D map of the features (UMAP, or PCA for large sets).
// (Nearest neighbours are search's: search/image-index.ts.)
import { UMAP } from 'umap-js';
import * as ops from '../tensor/generated/ops.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { Random } from '../random.js';

/** The rows projected on their first two principal components: [x0, y0, x1, y1, …]. */
export function pca2d(x: Tensor): Float32Array {
  return noGrad(() =>
    tidy(() => {
      const x64 = x.to('float64');
      const centred = x64.sub(x64.mean(0, true));
      const covariance = centred.t().matmul(centred).div(Math.max(1, x.size(0) - 1));
      const [, vectors] = ops.linalg_eigh(covariance, 'L') as [Tensor, Tensor];
      // eigh sorts eigenvalues ascending: the last two columns are the principal axes
      const axes = vectors.narrow(1, vectors.size(1) - 2, 2).flip([1]);
      return Float32Array.from(centred.matmul(axes).toArray() as Float64Array);
    }),
  );
}

/** UMAP of the rows into 2-D (umap-js, seeded): [x0, y0, x1, y1, …]. `onEpoch` follows the optimisation. */
export async function umap2d(x: Tensor, seed: number, onEpoch?: (epoch: number) => void): Promise<Float32Array> {
  const [n, d] = [x.size(0), x.size(1)];
  const flat = noGrad(() => tidy(() => x.float().contiguous().toArray() as Float32Array));
  const rows = Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * d, (i + 1) * d)));
  const rng = new Random(seed, 0x0a9);
  const embedding = await new UMAP({ nComponents: 2, nNeighbors: Math.min(15, n - 1), minDist: 0.1, random: () => rng.next() }).fitAsync(rows, (epoch) => {
    onEpoch?.(epoch);
    return true;
  });
  return Float32Array.from(embedding.flat());
}

/** A 2-D map of the rows: UMAP up to `umapLimit` rows, PCA beyond (UMAP's cost grows too fast for a report). */
export async function featureMap(x: Tensor, { umapLimit = 3000, seed = 0, onEpoch }: { umapLimit?: number; seed?: number; onEpoch?: (epoch: number) => void } = {}): Promise<{ method: 'umap' | 'pca'; xy: Float32Array }> {
  if (x.size(0) > umapLimit || x.size(0) < 4) return { method: 'pca', xy: pca2d(x) };
  return { method: 'umap', xy: await umap2d(x, seed, onEpoch) };
}
