// NT-Xent, SimCLR's contrastive loss (Chen et al. 2020, eq. 1). z is [2N, d]; rows i and i + N are
// the two views of image i. With s(i, j) = zᵢ·zⱼ / (τ‖zᵢ‖‖zⱼ‖):
//   l(i, j) = −log( exp(s(i, j)) / Σ_{k≠i} exp(s(i, k)) )
// for each anchor i and its positive j, both orders, averaged over the 2N anchors (the paper's L;
// google-research/simclr's code reports loss_a + loss_b, twice this). The other 2N − 2 views are
// the negatives. Computed stably: the self-similarity is masked to −∞ and the log-sum-exp is
// taken by log_softmax, as a cross-entropy over each row.
import * as F from '../tensor/functional.js';
import * as ops from '../tensor/generated/ops.js';
import { arange, eye } from '../tensor/create.js';
import { noGrad, Tensor, tidy } from '../tensor/tensor.js';

/** Options of {@link ntXentLoss} and {@link ntXentMetrics}. */
export interface NTXentOptions {
  /** τ (0.5 suits small images, 0.1 ImageNet-like ones). */
  temperature?: number;
  /**
   * Only these anchor rows (int64 indices into z), summed and divided by 2N: the losses of
   * disjoint anchor sets add up to the full loss. A worker of a data-parallel run takes its own
   * views as anchors against the views gathered from all workers.
   */
  anchors?: Tensor;
}

/** The similarity logits [A, 2N] of the anchors (all 2N rows by default) with self-pairs masked, and each anchor's positive. */
function logitsAndTargets(z: Tensor, temperature: number, anchors?: Tensor): { logits: Tensor; targets: Tensor } {
  if (z.ndim !== 2 || z.size(0) % 2 !== 0 || z.size(0) < 2) {
    throw new RangeError(`NT-Xent expects z of shape [2N, d] (two views per image), got [${z.shape.join(', ')}]`);
  }
  if (z.size(0) < 4) throw new RangeError('NT-Xent needs at least 2 images (4 views): with one image there are no negatives');
  if (!(temperature > 0)) throw new RangeError(`temperature must be positive (got ${temperature})`);
  const rows = z.size(0);
  const n = rows / 2;
  const unit = F.normalize(z, { dim: 1 });
  if (anchors === undefined) {
    const logits = unit.matmul(unit.t()).div(temperature).maskedFill(eye(rows, { dtype: 'bool' }), -Infinity);
    return { logits, targets: ops.remainder$Scalar(arange(rows).add(n), rows) };
  }
  const self = arange(rows).unsqueeze(0).eq(anchors.unsqueeze(1));
  const logits = unit.indexSelect(0, anchors).matmul(unit.t()).div(temperature).maskedFill(self, -Infinity);
  return { logits, targets: ops.remainder$Scalar(anchors.add(n), rows) };
}

/** The mean NT-Xent loss over all 2N anchors (a scalar tensor, differentiable in z). */
export function ntXentLoss(z: Tensor, { temperature = 0.5, anchors }: NTXentOptions = {}): Tensor {
  return tidy(() => {
    const { logits, targets } = logitsAndTargets(z, temperature, anchors);
    return anchors === undefined ? F.crossEntropy(logits, targets) : F.crossEntropy(logits, targets, { reduction: 'sum' }).div(z.size(0));
  });
}

/** Diagnostics of a batch's projections, from {@link ntXentMetrics}. */
export interface NTXentMetrics {
  /** Share of anchors whose positive ranks first among the other 2N − 1 views. */
  accuracy: number;
  /** Mean cosine similarity of the positive pairs. */
  positiveSimilarity: number;
  /** Mean cosine similarity of the negative pairs. */
  negativeSimilarity: number;
}

/** Contrastive accuracy and mean positive / negative similarities, for the logs. */
export function ntXentMetrics(z: Tensor, { temperature = 0.5 }: NTXentOptions = {}): NTXentMetrics {
  return noGrad(() =>
    tidy(() => {
      const { logits, targets } = logitsAndTargets(z.detach(), temperature);
      const rows = z.size(0);
      const accuracy = logits.argmax(1).eq(targets).float().mean().item();
      const cosine = logits.mul(temperature);
      const positive = cosine.gather(1, targets.unsqueeze(1)).mean().item();
      const finite = cosine.maskedFill(eye(rows, { dtype: 'bool' }), 0);
      const negative = (finite.sum().item() - positive * rows) / (rows * (rows - 2));
      return { accuracy, positiveSimilarity: positive, negativeSimilarity: negative };
    }),
  );
}
