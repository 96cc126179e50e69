// One SimCLR optimisation step's forward and backward (z = g(f(T(x))), NT-Xent, gradients), with
// gradient caching and data parallelism, and the optimizer the step feeds.
import type { Module } from '../nn/module.js';
import { Adam, AdamW } from '../optim/adam.js';
import { LARS, larsGroups } from '../optim/lars.js';
import type { GroupOptions, Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/sgd.js';
import { cat } from '../tensor/create.js';
import { gatherViews } from '../distributed/data-parallel.js';
import type { ProcessGroup } from '../distributed/process-group.js';
import { autocast, noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import type { PretrainConfig } from './config.js';
import type { SimCLRModel } from './model.js';
import { ntXentLoss } from './nt-xent.js';

/** The optimizer of the config (LARS leaves biases and BatchNorm out of weight decay and adaptation). */
export function buildOptimizer(model: Module, c: PretrainConfig, peakLr: number): Optimizer<GroupOptions> {
  const params = model.parameters();
  switch (c.optimizer) {
    case 'lars':
      return new LARS(larsGroups(model, c.weightDecay), { lr: peakLr, momentum: c.momentum });
    case 'sgd':
      return new SGD(params, { lr: peakLr, momentum: c.momentum, weightDecay: c.weightDecay });
    case 'adam':
      return new Adam(params, { lr: peakLr, weightDecay: c.weightDecay });
    case 'adamw':
      return new AdamW(params, { lr: peakLr, weightDecay: c.weightDecay });
  }
}

/** Copies of every buffer (BN running statistics), to undo the first pass of gradient caching. */
function snapshotBuffers(model: Module): [Tensor, Tensor][] {
  return [...model.namedBuffers()].map(([, b]) => [b, noGrad(() => b.clone())]);
}

/** How a data-parallel worker takes part in a step. */
export interface DataParallel {
  /** The workers of the job. */
  group: ProcessGroup;
  /** Gather every worker's z, so that the negatives span the global batch (else only this worker's). */
  gather: boolean;
}

/** z of the views: the model's forward, under bfloat16 autocast when bf16 (z back in float32). */
export function projections(model: SimCLRModel, views: Tensor, bf16: boolean): Tensor {
  return bf16 ? autocast(() => model.forward(views)).float() : model.forward(views);
}

/**
 * One optimisation step's forward and backward. With chunk > 0 and fewer views than the batch,
 * gradient caching: z for the whole batch without activations, the loss and dL/dz, then each
 * chunk re-run with autograd and back-propagated from its slice of dL/dz. The gradient is that of
 * the whole batch; BatchNorm sees per-chunk statistics. Data-parallel, each worker's gradient is
 * its share of the global loss's (to be summed over workers), and so is the loss returned: it
 * rides on the gradients' collective (allReduceGradients' carry); the z returned is every worker's
 * (with the gather). A worker goes through backward whatever its loss (its collectives must meet
 * the others'); alone, a non-finite loss returns before it.
 */
export function contrastiveStep(
  model: SimCLRModel,
  views: Tensor,
  temperature: number,
  chunk: number,
  bf16: boolean,
  dp: DataParallel | null = null,
): {
  /** The loss value (data-parallel: this worker's share of the global loss). */
  loss: number;
  /** The projections [2N, d], detached (data-parallel with gather: every worker's). */
  z: Tensor;
} {
  const forward = (x: Tensor) => projections(model, x, bf16);
  const rows = views.size(0);
  const chunked = chunk > 0 && chunk < rows;
  let z: Tensor;
  if (chunked) {
    const saved = snapshotBuffers(model);
    // (a scope per chunk, so that each chunk's activations are freed before the next one)
    z = noGrad(() => cat(views.split(chunk, 0).map((v) => tidy(() => forward(v))), 0));
    noGrad(() => saved.forEach(([b, copy]) => b.copy_(copy)));
    for (const [, copy] of saved) copy.dispose();
    z.requiresGrad_(true);
  } else {
    z = forward(views);
  }
  const gathered = dp?.gather ? gatherViews(dp.group, z) : null;
  const all = gathered?.all ?? z;
  const loss = ntXentLoss(all, { temperature, anchors: gathered?.anchors });
  const value = loss.item();
  if (dp === null && !Number.isFinite(value)) return { loss: value, z: all.detach() };
  loss.backward();
  if (chunked) {
    const dz = z.grad!;
    for (let start = 0; start < rows; start += chunk) {
      tidy(() => {
        const n = Math.min(chunk, rows - start);
        forward(views.narrow(0, start, n)).backward(dz.narrow(0, start, n));
      });
    }
  }
  return { loss: value, z: all.detach() };
}
