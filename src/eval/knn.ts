// Weighted k-nearest-neighbour classification on features (InstDisc, Wu et al. 2018; lightly's
// monitor): cosine similarity, the k = 200 nearest training features vote for their class with
// weight exp(sim / 0.1); the class with the most weight wins.
import * as F from '../tensor/functional.js';
import { classCount } from '../data/source.js';
import * as ops from '../tensor/generated/ops.js';
import { tensor, zeros } from '../tensor/create.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { Task } from '../progress.js';

/** Options of {@link knnPredict} and {@link knnAccuracy}. */
export interface KnnOptions {
  /** Neighbours that vote (default 200). */
  k?: number;
  /** Temperature τ of the votes' weights exp(similarity / τ) (default 0.1). */
  temperature?: number;
  /** Queries per chunk (bounds memory: chunk × bank similarities). */
  chunk?: number;
  /** Progress label (null: none). */
  label?: string | null;
}

/**
 * Weighted kNN classification: each query [Q, D] takes the class with the most weight among its k
 * most cosine-similar bank features [N, D]. Returns the predicted class of every query.
 */
export function knnPredict(
  bank: Tensor,
  bankLabels: Int32Array,
  queries: Tensor,
  { k = 200, temperature = 0.1, chunk = 512, label = null }: KnnOptions = {},
): Int32Array {
  if (bank.size(0) !== bankLabels.length) throw new RangeError(`kNN: ${bank.size(0)} bank features but ${bankLabels.length} labels`);
  const classes = classCount(bankLabels);
  const kk = Math.min(k, bank.size(0));
  const out = new Int32Array(queries.size(0));
  const task = label === null ? null : new Task(label, { total: queries.size(0), unit: 'queries' });
  noGrad(() =>
    tidy(() => {
      const b = F.normalize(bank.float(), { dim: 1 });
      const labels = tensor(bankLabels, { dtype: 'int64' });
      for (let start = 0; start < queries.size(0); start += chunk) {
        tidy(() => {
          const q = F.normalize(queries.narrow(0, start, Math.min(chunk, queries.size(0) - start)).float(), { dim: 1 });
          const [sims, idx] = ops.topk(q.matmul(b.t()), kk, 1, true, true) as [Tensor, Tensor];
          const neighbourLabels = labels.index([idx]);
          const votes = ops.scatter_add(zeros([q.size(0), classes]), 1, neighbourLabels, sims.div(temperature).exp());
          out.set(votes.argmax(1).to('int32').toArray() as Int32Array, start);
          task?.update(start + q.size(0));
        });
      }
    }),
  );
  task?.end();
  return out;
}

/** Top-1 accuracy (in [0, 1]) of kNN classification of labelled queries. */
export function knnAccuracy(bank: Tensor, bankLabels: Int32Array, queries: Tensor, queryLabels: Int32Array, options: KnnOptions = {}): number {
  const predicted = knnPredict(bank, bankLabels, queries, options);
  let correct = 0;
  predicted.forEach((p, i) => (correct += p === queryLabels[i] ? 1 : 0));
  return correct / predicted.length;
}
