// Data parallelism around a model (torch's DistributedDataParallel and SyncBatchNorm, simplified):
// every worker starts from rank 0's weights, gradients are summed over workers in buckets after
// the backward pass, and BatchNorm can take its statistics over the whole global batch.
import { cat, tensor, zerosLike } from '../tensor/create.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import * as ops from '../tensor/generated/ops.js';
import { BatchNorm } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { ProcessGroup } from './process-group.js';

/** Copies rank 0's parameters and buffers into every worker's model. */
export function broadcastModule(group: ProcessGroup, model: Module): void {
  noGrad(() => {
    for (const t of [...model.parameters(), ...[...model.namedBuffers()].map(([, b]) => b)]) {
      // (through a row-major copy: collectives take contiguous tensors, a channels-last weight is not)
      tidy(() => t.copy_(group.broadcast_(t.contiguous())));
    }
  });
}

/**
 * Sums each parameter's gradient over all workers, in place, one collective per bucket of about
 * `bucketBytes` (parameters in model order; a missing gradient counts as zero). Divide by the
 * world size in the loss, or here with `scale`, for an average. `carry`: numbers that ride along
 * in the last bucket (a step's loss share, a stop flag) instead of taking collectives of their
 * own; returned summed and scaled like the gradients (to float32 precision).
 */
export function allReduceGradients(group: ProcessGroup, params: readonly Tensor[], { bucketBytes = 25 << 20, scale = 1, carry = [] as number[] } = {}): number[] {
  let bucket: Tensor[] = [];
  let bytes = 0;
  let carried: number[] = [];
  const flush = (last: boolean) => {
    if (bucket.length === 0 && !last) return;
    const members = bucket;
    bucket = [];
    bytes = 0;
    noGrad(() =>
      tidy(() => {
        const grads = members.map((p) => p.grad ?? ((p.grad = zerosLike(p)), p.grad!));
        const riders = last && carry.length > 0 ? [tensor(carry)] : [];
        const flat = cat([...grads.map((g) => g.flatten()), ...riders]);
        group.allReduce_(flat);
        if (scale !== 1) flat.mul_(scale);
        let offset = 0;
        for (const g of grads) {
          g.copy_(flat.narrow(0, offset, g.numel).view(g.shape));
          offset += g.numel;
        }
        if (riders.length > 0) carried = Array.from(flat.narrow(0, offset, carry.length).toNumbers());
      }),
    );
  };
  for (const p of params) {
    bucket.push(p);
    bytes += p.numel * 4;
    if (bytes >= bucketBytes) flush(false);
  }
  flush(true);
  return carried;
}

/**
 * Global batch normalisation: in training, the mean and variance over every worker's batch
 * (the paper's global BN), differentiably; running statistics from the global ones. One
 * collective forward and one backward (its gradient): every worker's mean and variance (one
 * pass) gathered together and combined as Chan et al.'s parallel variance (workers hold equal
 * shares of the batch: the mean of their variances plus the variance of their means), as exact
 * as a two-pass variance of the whole batch, where a sum of x² minus the squared mean would cancel
 * in float32. Then y = x·a + c in one pass, a = γ/√(σ² + ε) and c = β − μ·a, as libtorch's own
 * batch norm computes it.
 */
function syncBatchNorm(bn: BatchNorm, group: ProcessGroup, x: Tensor): Tensor {
  return tidy(() => {
    const channels = x.size(1);
    const dims = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
    const shape = [1, channels, ...Array.from({ length: x.ndim - 2 }, () => 1)];
    const count = (x.numel / channels) * group.size;
    const [localVariance, localMean] = ops.var_mean$correction(x, dims, 0);
    const gathered = group.allGatherWithGrad(cat([localMean, localVariance]).view([1, 2 * channels]));
    const means = gathered.narrow(1, 0, channels);
    const mean = means.mean(0);
    const variance = gathered.narrow(1, channels, channels).mean(0).add(means.sub(mean).square().mean(0));
    const scale = bn.weight === null ? variance.add(bn.eps).rsqrt() : variance.add(bn.eps).rsqrt().mul(bn.weight);
    const shift = bn.bias === null ? mean.mul(scale).neg() : bn.bias.sub(mean.mul(scale));
    const y = ops.addcmul(shift.view(shape), x, scale.view(shape));
    const runningMean = bn.runningMean;
    const runningVar = bn.runningVar;
    if (runningMean !== null && runningVar !== null) {
      noGrad(() => {
        runningMean.mul_(1 - bn.momentum).add_(mean.detach(), bn.momentum);
        runningVar.mul_(1 - bn.momentum).add_(variance.detach(), (bn.momentum * count) / Math.max(1, count - 1));
      });
    }
    return y;
  });
}

/** Makes every BatchNorm in the model use global statistics in training (torch's convert_sync_batchnorm). */
export function convertSyncBatchNorm(model: Module, group: ProcessGroup): void {
  for (const [, m] of model.namedModules()) {
    if (m instanceof BatchNorm) m.trainingForward = (x) => syncBatchNorm(m, group, x);
  }
}

/**
 * Every worker's z gathered along dim 0 — differentiably: the backward hands each worker the sum
 * of all workers' gradients of its rows — and reordered so that rows i and i + N are the two
 * views of image i of the global batch (each worker's z holds its images' first views, then their
 * second views). `anchors` are this worker's rows in that order: its share of the loss.
 */
export function gatherViews(group: ProcessGroup, z: Tensor): { all: Tensor; anchors: Tensor } {
  return tidy(() => {
    const n = z.size(0) / 2;
    const total = n * group.size;
    const order = new Int32Array(2 * total);
    for (let view = 0; view < 2; view++) {
      for (let r = 0; r < group.size; r++) for (let i = 0; i < n; i++) order[view * total + r * n + i] = r * 2 * n + view * n + i;
    }
    const mine = Int32Array.from({ length: 2 * n }, (_, i) => (i < n ? 0 : total) + group.rank * n + (i % n));
    return {
      all: group.allGatherWithGrad(z).indexSelect(0, tensor(order, { dtype: 'int64' })),
      anchors: tensor(mine, { dtype: 'int64' }),
    };
  });
}
