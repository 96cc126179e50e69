// Linear evaluation: multinomial logistic regression on frozen features h. Features are
// standardised with the training statistics; the L2 strength is chosen on a held-out part of the
// training split (by k-fold cross-validation when the labelled set is small, as in few-label
// evaluation); the classifier is fit by full-batch L-BFGS, then refit on the whole training split
// with the chosen strength and scored on the test split. The fits of every λ run in lockstep on
// their shared rows, their points evaluated together: one pass over the features serves them all,
// and the passes are what costs. float32 is precise enough for the classifier and twice
// as fast as float64 here.
import * as F from '../tensor/functional.js';
import { cat, stack, tensor, zeros } from '../tensor/create.js';
import { grad, keep, noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { Random } from '../random.js';
import { classCount } from '../data/source.js';
import { Task } from '../progress.js';

export interface LinearProbeOptions {
  /** Candidate L2 strengths λ (loss + λ/2 ‖W‖²). */
  l2Grid?: number[];
  /** Share of the training split held out to choose λ (training sets of `crossValidateBelow` or more). */
  heldOut?: number;
  /** Smaller training sets choose λ by this many folds of cross-validation instead (default 5). */
  folds?: number;
  crossValidateBelow?: number;
  maxIterations?: number;
  seed?: number;
  /** Progress label (null: no progress). */
  label?: string | null;
}

export interface LinearProbeResult {
  accuracy: number;
  l2: number;
  heldOutAccuracy: Record<string, number>;
  iterations: number;
  /** The predicted class of every test row. */
  predictions: Int32Array;
}

/** A point's objective value and gradient (the gradient kept: the L-BFGS run that asked owns it). */
export interface Evaluation {
  value: number;
  gradient: Tensor;
}

export interface LbfgsOptions {
  maxIterations?: number;
  /** Stops when the gradient's largest entry falls below this. */
  tolerance?: number;
  onIteration?: (iteration: number, value: number) => void;
}

/**
 * L-BFGS (two-loop recursion, memory 10, backtracking Armijo line search) as a coroutine: it
 * yields every point it needs evaluated and is resumed with that point's value and gradient, so
 * that a caller can evaluate many runs' points together (fitTogether).
 */
export function* lbfgsSteps(theta0: Tensor, { maxIterations = 200, tolerance = 1e-6, onIteration }: LbfgsOptions = {}): Generator<Tensor, { theta: Tensor; iterations: number }, Evaluation> {
  const dot = (a: Tensor, b: Tensor) => tidy(() => a.mul(b).sum().item());
  let theta = keep(theta0.detach().clone());
  let { value, gradient } = yield theta;
  const history: { s: Tensor; y: Tensor; rho: number }[] = [];
  let iterations = 0;
  try {
    for (; iterations < maxIterations; iterations++) {
      if (tidy(() => gradient.abs().amax().item()) < tolerance) break;
      // direction = −H·g by the two-loop recursion
      const direction = keep(
        tidy(() => {
          let q = gradient.clone();
          const alphas: number[] = [];
          for (let i = history.length - 1; i >= 0; i--) {
            const h = history[i]!;
            const a = h.rho * dot(h.s, q);
            alphas[i] = a;
            q = q.sub(h.y.mul(a));
          }
          const last = history[history.length - 1];
          const gamma = last ? dot(last.s, last.y) / dot(last.y, last.y) : 1 / Math.max(1, Math.sqrt(dot(gradient, gradient)));
          let r = q.mul(gamma);
          for (let i = 0; i < history.length; i++) {
            const h = history[i]!;
            const b = h.rho * dot(h.y, r);
            r = r.add(h.s.mul(alphas[i]! - b));
          }
          return r.neg();
        }),
      );
      const slope = dot(gradient, direction);
      let step = 1;
      let next: Evaluation | null = null;
      let candidate: Tensor | null = null;
      for (let tries = 0; tries < 30; tries++) {
        candidate = keep(tidy(() => theta.add(direction.mul(step))));
        const trial: Evaluation = yield candidate;
        if (trial.value <= value + 1e-4 * step * slope) {
          next = trial;
          break;
        }
        trial.gradient.dispose();
        candidate.dispose();
        candidate = null;
        step *= 0.5;
      }
      direction.dispose();
      if (next === null || candidate === null) break;
      const s = keep(tidy(() => candidate!.sub(theta)));
      const y = keep(tidy(() => next!.gradient.sub(gradient)));
      const sy = dot(s, y);
      if (sy > 1e-12) {
        history.push({ s, y, rho: 1 / sy });
        if (history.length > 10) {
          const old = history.shift()!;
          old.s.dispose();
          old.y.dispose();
        }
      } else {
        s.dispose();
        y.dispose();
      }
      const improvement = value - next.value;
      theta.dispose();
      gradient.dispose();
      theta = candidate;
      value = next.value;
      gradient = next.gradient;
      onIteration?.(iterations + 1, value);
      if (improvement < 1e-10 * Math.max(1, Math.abs(value))) {
        iterations++;
        break;
      }
    }
  } finally {
    gradient.dispose();
    for (const h of history) {
      h.s.dispose();
      h.y.dispose();
    }
  }
  return { theta, iterations };
}

/** Minimises f (a scalar function of one tensor, differentiated by autograd) by L-BFGS. */
export function lbfgs(f: (theta: Tensor) => Tensor, theta0: Tensor, options: LbfgsOptions = {}): { theta: Tensor; iterations: number } {
  const run = lbfgsSteps(theta0, options);
  let next = run.next();
  while (!next.done) {
    const point = next.value;
    next = run.next(
      tidy(() => {
        const t = point.detach().requiresGrad_(true);
        const loss = f(t);
        const [g] = grad(loss, [t]);
        return { value: loss.item(), gradient: keep(g!.detach()) };
      }),
    );
  }
  return next.value;
}

/** Standardised features and their labels: the rows some fits share. */
interface Problem {
  x: Tensor; // [N, D]
  y: Tensor; // [N] int64
  classes: number;
}

/** θ = [W (D × classes, row-major), b (classes)]. */
const parameterCount = (p: Problem) => p.x.size(1) * p.classes + p.classes;

/**
 * Mean cross-entropy + λ/2 ‖W‖² and its gradient (autograd) for several θ on the same rows at
 * once: one product over x for all their logits and one for all their weight gradients, which is
 * what costs. Each fit's value and gradient are those it would have alone, but for the rounding of
 * the wider products.
 */
function evaluateFits(p: Problem, l2s: number[], points: Tensor[]): Evaluation[] {
  return tidy(() => {
    const [d, c] = [p.x.size(1), p.classes];
    const thetas = points.map((t) => t.detach().requiresGrad_(true));
    const ws = thetas.map((t) => t.narrow(0, 0, d * c).view([d, c]));
    const logits = p.x.matmul(cat(ws, 1)).add(cat(thetas.map((t) => t.narrow(0, d * c, c))));
    const losses = ws.map((w, i) => F.crossEntropy(logits.narrow(1, i * c, c), p.y).add(w.square().sum().mul(l2s[i]! / 2)));
    const gradients = grad(stack(losses).sum(), thetas);
    return losses.map((loss, i) => ({ value: loss.item(), gradient: keep(gradients[i]!.detach()) }));
  });
}

/** Runs one L-BFGS per λ on the same rows in lockstep, evaluating their points together; the solutions. */
function fitTogether(p: Problem, l2s: number[], options: LbfgsOptions): { theta: Tensor; iterations: number }[] {
  const runs = l2s.map(() => lbfgsSteps(zeros([parameterCount(p)]), options));
  const states = runs.map((run) => run.next());
  for (;;) {
    const active = states.flatMap((s, i) => (s.done ? [] : [i]));
    if (active.length === 0) break;
    const evaluations = evaluateFits(p, active.map((i) => l2s[i]!), active.map((i) => states[i]!.value as Tensor));
    active.forEach((i, j) => (states[i] = runs[i]!.next(evaluations[j]!)));
  }
  return states.map((s) => s.value as { theta: Tensor; iterations: number });
}

/** The classes the fitted linear model predicts for the rows of x. */
function predict(theta: Tensor, x: Tensor, classes: number): Tensor {
  const d = x.size(1);
  return x.matmul(theta.narrow(0, 0, d * classes).view([d, classes])).add(theta.narrow(0, d * classes, classes)).argmax(1);
}

function accuracy(theta: Tensor, x: Tensor, y: Tensor, classes: number): number {
  return noGrad(() => tidy(() => predict(theta, x, classes).eq(y).float().mean().item()));
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export function linearProbe(
  train: { features: Tensor; labels: Int32Array },
  test: { features: Tensor; labels: Int32Array },
  { l2Grid = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1], heldOut = 0.1, folds = 5, crossValidateBelow = 10_000, maxIterations = 200, seed = 0, label = 'linear probe' }: LinearProbeOptions = {},
): LinearProbeResult {
  return tidy(() => {
    const classes = classCount(train.labels, test.labels);
    const xTrain = train.features.to('float32');
    const mean = xTrain.mean(0, true);
    const std = xTrain.std(0, { keepdim: true }).clamp(1e-8);
    const standard = (x: Tensor) => x.to('float32').sub(mean).div(std);
    const full: Problem = { x: standard(train.features), y: tensor(train.labels, { dtype: 'int64' }), classes };
    const n = train.labels.length;
    const order = new Random(seed, 0x11ea4).permutation(n);
    const pick = (idx: Int32Array): Problem => {
      const i = tensor(idx, { dtype: 'int64' });
      return { x: full.x.indexSelect(0, i), y: full.y.indexSelect(0, i), classes };
    };
    // (validation part, fitting part) pairs: k folds of a small set, else one held-out share
    const k = n < crossValidateBelow ? Math.min(folds, n) : 1;
    const parts = Array.from({ length: k }, (_, f) => {
      const lo = k === 1 ? 0 : Math.floor((f * n) / k);
      const hi = k === 1 ? Math.max(1, Math.round(n * heldOut)) : Math.floor(((f + 1) * n) / k);
      const rest = Int32Array.from([...order.subarray(0, lo), ...order.subarray(hi)]);
      return { valid: pick(order.subarray(lo, hi)), fitPart: pick(rest) };
    });
    const fitIterations = Math.ceil(maxIterations / 2);
    const task = label === null ? null : new Task(label, { total: l2Grid.length * k * fitIterations + maxIterations, unit: 'iterations' });
    const validation = k > 1 ? `${k}-fold` : 'held-out';
    // Every λ of a part at once (they share its rows); the parts one after another.
    let spent = 0;
    const sums = new Map(l2Grid.map((l2) => [l2, 0]));
    for (const { valid, fitPart } of parts) {
      const fits = fitTogether(fitPart, l2Grid, { maxIterations: fitIterations, onIteration: () => task?.update(++spent, `λ ${l2Grid.join(', ')} (${validation})`) });
      fits.forEach(({ theta }, i) => {
        sums.set(l2Grid[i]!, sums.get(l2Grid[i]!)! + accuracy(theta, valid.x, valid.y, classes));
        theta.dispose();
      });
    }
    const heldOutAccuracy = Object.fromEntries(l2Grid.map((l2) => [String(l2), sums.get(l2)! / k]));
    // (ties go to the first of the grid)
    const best = l2Grid.reduce((a, b) => (heldOutAccuracy[String(b)]! > heldOutAccuracy[String(a)]! ? b : a));
    spent = l2Grid.length * k * fitIterations;
    const [{ theta, iterations }] = fitTogether(full, [best], {
      maxIterations,
      onIteration: (it) => task?.update(spent + it, `final fit at λ ${best} (${validation} ${pct(heldOutAccuracy[String(best)]!)})`),
    });
    const predictions = noGrad(() => tidy(() => Int32Array.from(predict(theta, standard(test.features), classes).toArray() as BigInt64Array, Number)));
    const result = predictions.reduce((n, p, i) => n + Number(p === test.labels[i]), 0) / predictions.length;
    task?.end(`λ ${best} (${validation} ${pct(heldOutAccuracy[String(best)]!)}), test ${pct(result)}`);
    theta.dispose();
    return { accuracy: result, l2: best, heldOutAccuracy, iterations, predictions };
  });
}
