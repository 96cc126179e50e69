// Linear evaluation: multinomial logistic regression on frozen features h. Features are
// standardised with the training statistics; the L2 strength is chosen on a held-out part of the
// training split (by k-fold cross-validation when the labelled set is small, as in few-label
// evaluation); the classifier is fit by full-batch L-BFGS, then refit on the whole training split
// with the chosen strength and scored on the test split. The fits of every (λ, fold) pair run at
// once as the rows of one L-BFGS (lbfgsRuns), their points evaluated together: one pass over the
// features serves them all (a fold's own rows weigh 0 in its fits), and the passes are what
// costs; the few-label probes, whose passes are cheap, save the per-fit overhead of 30 fits.
// L-BFGS is preconditioned (curvatureScale): in the eigenbasis of the features' covariance, each
// direction scaled by its expected curvature: several times fewer iterations to the same point.
// float32 is precise enough for the classifier and twice as fast as float64 here.
import { arange, cat, full, tensor, where, zeros } from '../tensor/create.js';
import { grad, keep, noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { Random } from '../random.js';
import { classCount } from '../data/source.js';
import { Task } from '../progress.js';
import * as ops from '../tensor/generated/ops.js';

/** Options of {@link linearProbe}. */
export interface LinearProbeOptions {
  /** Candidate L2 strengths λ (loss + λ/2 ‖W‖²). */
  l2Grid?: number[];
  /** Share of the training split held out to choose λ (training sets of `crossValidateBelow` or more). */
  heldOut?: number;
  /** Smaller training sets choose λ by this many folds of cross-validation instead (default 5). */
  folds?: number;
  /** Training sets smaller than this choose λ by cross-validation, larger ones on a held-out share (default 10,000). */
  crossValidateBelow?: number;
  /** L-BFGS iterations in all, half to choose λ and half for the final fit (default 100; 200 for the cheap cross-validated fits of a small training set, whose held-out accuracies of neighbouring λ are often a few images apart). */
  maxIterations?: number;
  /** Seed of the held-out share or folds (default 0). */
  seed?: number;
  /** Progress label (null: no progress). */
  label?: string | null;
}

/** What {@link linearProbe} found. */
export interface LinearProbeResult {
  /** Test accuracy, 0–1. */
  accuracy: number;
  /** The L2 strength λ chosen. */
  l2: number;
  /** Validation accuracy (0–1) of each candidate λ, keyed by λ as a string. */
  heldOutAccuracy: Record<string, number>;
  /** L-BFGS iterations of the final fit. */
  iterations: number;
  /** The predicted class of every test row. */
  predictions: Int32Array;
}

/** Options of {@link lbfgs} and {@link lbfgsRuns}. */
export interface LbfgsOptions {
  /** Iteration limit (default 200). */
  maxIterations?: number;
  /** A run stops when its gradient's largest entry falls below this. */
  tolerance?: number;
  /** Called once per iteration of the batch: the iteration and every run's objective value. */
  onIteration?: (iteration: number, values: readonly number[]) => void;
}

/** The solutions of {@link lbfgsRuns}. */
export interface LbfgsResult {
  /** Each run's solution, [runs, P]. */
  theta: Tensor;
  /** The iterations each run took. */
  iterations: number[];
}

const rowDot = (a: Tensor, b: Tensor) => a.mul(b).sum(1);
const rows = (v: Tensor) => v.unsqueeze(1);

/** Every run's objective value at a point θ [runs, P] and their gradient [runs, P] (kept: the caller owns it). */
export interface Evaluation {
  /** Each run's objective value. */
  values: number[];
  /** Each run's gradient, [runs, P]. */
  gradient: Tensor;
}
/** An objective for {@link lbfgsRuns}: every run's value and gradient at θ [runs, P]. */
export type Objective = (theta: Tensor) => Evaluation;

/** The objective of f (θ [runs, P] → each run's value [runs], run r's from row r alone), differentiated by autograd. */
export function autogradObjective(f: (theta: Tensor) => Tensor): Objective {
  return (theta) =>
    tidy(() => {
      const t = theta.detach().requiresGrad_(true);
      const values = f(t);
      const [g] = grad(values.sum(), [t]);
      return { values: Array.from(values.toNumbers()), gradient: keep(g!.detach()) };
    });
}

/**
 * L-BFGS (two-loop recursion, memory 10, backtracking Armijo line search) on several independent
 * problems at once: θ is [runs, P], and the objective evaluates every run's point together. Every
 * run has its own history, step sizes and stopping, but their vectors are rows of one tensor, so
 * that an iteration costs the same few operations for one run or fifty (for a linear probe: one
 * product over the features for all their logits, one for all their gradients).
 */
export function lbfgsRuns(evaluate: Objective, theta0: Tensor, { maxIterations = 200, tolerance = 1e-6, onIteration }: LbfgsOptions = {}): LbfgsResult {
  const runs = theta0.size(0);
  /** [runs, 1] bool: which runs' rows a where() takes. */
  const mask = (on: readonly boolean[]) => rows(tensor([...on]));
  let theta = keep(theta0.detach().clone());
  let { values, gradient } = evaluate(theta);
  const history: { s: Tensor; y: Tensor; rho: Tensor }[] = [];
  // the scaling of the initial Hessian, per run: 1/max(1, ‖g₀‖), then sᵀy/yᵀy of the last pair
  let gamma = keep(tidy(() => gradient.square().sum(1).sqrt().clamp(1).reciprocal()));
  const iterations = new Array<number>(runs).fill(0);
  const running = new Array<boolean>(runs).fill(true);
  try {
    for (let iteration = 0; iteration < maxIterations; iteration++) {
      const largest = tidy(() => gradient.abs().amax(1).toNumbers());
      largest.forEach((g, r) => (running[r] &&= g >= tolerance));
      if (!running.some(Boolean)) break;
      // direction = −H·g by the two-loop recursion, every run's at once (finished runs' rows zeroed)
      const direction = keep(
        tidy(() => {
          let q = gradient;
          const alphas: Tensor[] = [];
          for (let i = history.length - 1; i >= 0; i--) {
            const h = history[i]!;
            alphas[i] = h.rho.mul(rowDot(h.s, q));
            q = ops.addcmul(q, h.y, rows(alphas[i]!), -1);
          }
          let r = q.mul(rows(gamma));
          for (let i = 0; i < history.length; i++) {
            const h = history[i]!;
            r = ops.addcmul(r, h.s, rows(alphas[i]!.sub(h.rho.mul(rowDot(h.y, r)))));
          }
          return where(mask(running), r.neg(), zeros([1], { dtype: r.dtype }));
        }),
      );
      const slopes = tidy(() => rowDot(gradient, direction).toNumbers());
      // backtracking, each run halving its own step until its Armijo condition holds
      const steps = running.map((on) => (on ? 1 : 0));
      const pending = [...running];
      const accepted = new Array<boolean>(runs).fill(false);
      let next = { theta: keep(theta.clone()), values: [...values], gradient: keep(gradient.clone()) };
      for (let tries = 0; tries < 30 && pending.some(Boolean); tries++) {
        const candidate = tidy(() => theta.add(direction.mul(rows(tensor(steps).to(theta.dtype)))));
        const trial = evaluate(candidate);
        const took = pending.map((p, r) => p && trial.values[r]! <= values[r]! + 1e-4 * steps[r]! * slopes[r]!);
        const pick = (a: Tensor, b: Tensor) => keep(tidy(() => where(mask(took), a, b)));
        const replaced = { theta: pick(candidate, next.theta), values: next.values.map((v, r) => (took[r] ? trial.values[r]! : v)), gradient: pick(trial.gradient, next.gradient) };
        for (const t of [next.theta, next.gradient, candidate, trial.gradient]) t.dispose();
        next = replaced;
        took.forEach((t, r) => {
          if (t) [pending[r], accepted[r]] = [false, true];
          else if (pending[r]) steps[r]! /= 2;
        });
      }
      direction.dispose();
      // a run whose line search failed stops where it is
      accepted.forEach((a, r) => (running[r] &&= a));
      const pair = tidy(() => {
        const s = next.theta.sub(theta);
        const y = next.gradient.sub(gradient);
        const sy = rowDot(s, y);
        // a pair without positive curvature is left out of the run's recursion (ρ = 0)
        const curved = sy.gt(1e-12);
        const rho = where(curved, sy.reciprocal(), zeros([runs], { dtype: sy.dtype }));
        return { s: keep(s), y: keep(y), rho: keep(rho), gamma: keep(where(curved, sy.div(rowDot(y, y)), gamma)) };
      });
      history.push({ s: pair.s, y: pair.y, rho: pair.rho });
      if (history.length > 10) {
        const old = history.shift()!;
        for (const t of [old.s, old.y, old.rho]) t.dispose();
      }
      gamma.dispose();
      gamma = pair.gamma;
      accepted.forEach((a, r) => {
        if (!a) return;
        iterations[r]!++;
        if (values[r]! - next.values[r]! < 1e-10 * Math.max(1, Math.abs(next.values[r]!))) running[r] = false;
      });
      theta.dispose();
      gradient.dispose();
      [theta, values, gradient] = [next.theta, next.values, next.gradient];
      onIteration?.(iteration + 1, values);
    }
  } finally {
    gradient.dispose();
    gamma.dispose();
    for (const h of history) for (const t of [h.s, h.y, h.rho]) t.dispose();
  }
  return { theta, iterations };
}

/** Minimises f (a scalar function of one tensor, differentiated by autograd) by L-BFGS: lbfgsRuns with one run. */
export function lbfgs(f: (theta: Tensor) => Tensor, theta0: Tensor, options: LbfgsOptions = {}): {
  /** The solution, shaped as theta0 (owned by the caller). */
  theta: Tensor;
  /** The iterations taken. */
  iterations: number;
} {
  const { theta, iterations } = lbfgsRuns(autogradObjective((t) => f(t.select(0, 0)).view([1])), tidy(() => theta0.unsqueeze(0)), options);
  const solution = keep(tidy(() => theta.select(0, 0).clone()));
  theta.dispose();
  return { theta: solution, iterations: iterations[0]! };
}

/**
 * Standardised features, in both orders: the probe's two products, logitsᵀ = Wᵀ·xᵀ and
 * ∇Wᵀ = Gᵀ·x, are the fastest way round with OpenBLAS, with their rows padded to a multiple of 16.
 */
export interface Rows {
  x: Tensor; // [N, D]
  xT: Tensor; // [D, N]
  y: Tensor; // [N] int64
}

export const rowsOf = (x: Tensor, y: Tensor): Rows => ({ x, xT: x.t().contiguous(), y });

/** θ = [W (D × classes, row-major), b (classes)]. */
const parameterCount = (d: number, classes: number) => d * classes + classes;

/** t [R, …] with zero rows appended up to a multiple of 16 (the products' fast sizes). */
function padRows(t: Tensor): Tensor {
  const extra = (16 - (t.size(0) % 16)) % 16;
  return extra === 0 ? t : cat([t, zeros([extra, ...t.shape.slice(1)], { dtype: t.dtype })]);
}

/** Every fit's logits on every row, transposed: [fits, classes, N]. */
function logitsOf(xT: Tensor, theta: Tensor, classes: number): Tensor {
  const [d, n, fits] = [xT.size(0), xT.size(1), theta.size(0)];
  const wT = theta.narrow(1, 0, d * classes).view([fits, d, classes]).transpose(1, 2).reshape([fits * classes, d]);
  const logits = padRows(wT).matmul(xT).narrow(0, 0, fits * classes);
  return logits.add(theta.narrow(1, d * classes, classes).reshape([fits * classes, 1])).view([fits, classes, n]);
}

/**
 * Softmax regressions on the same rows, as one objective of θ [fits, P]: fit r minimises the
 * weighted cross-entropy Σᵢ weights[i, r]·ℓᵢ (its own rows' mean: 1/their count on them, 0
 * elsewhere) + l2s[r]/2 ‖W‖², its gradient written out: G = weights·(softmax − onehot),
 * ∇W = xᵀG + λW, ∇b = Σᵢ G (autograd would add passes and the slow small-dimension log-softmax).
 */
export function softmaxRegressionObjective(rows: Rows, weights: Tensor, l2s: number[], classes: number): Objective {
  const [n, d, fits] = [rows.x.size(0), rows.x.size(1), l2s.length];
  const l2 = tensor(l2s, { dtype: rows.x.dtype }).view([fits, 1, 1]);
  const weightsT = weights.t().unsqueeze(1); // [fits, 1, N]
  const onehot = arange(classes).view([classes, 1]).eq(rows.y.view([1, n])).float().unsqueeze(0); // [1, classes, N]
  return (theta) =>
    tidy(() => {
      const w = theta.narrow(1, 0, d * classes).view([fits, d, classes]);
      const logits = logitsOf(rows.xT, theta, classes);
      const lse = logits.logsumexp(1, true);
      const nll = lse.sub(logits.mul(onehot).sum(1, true)).mul(weightsT).sum([1, 2]);
      const values = nll.add(w.square().sum([1, 2]).mul(l2.view([fits]).div(2)));
      const g = logits.sub(lse).exp().sub(onehot).mul(weightsT).view([fits * classes, n]);
      const gradW = padRows(g).matmul(rows.x).narrow(0, 0, fits * classes).view([fits, classes, d]).transpose(1, 2).add(w.mul(l2));
      const gradient = cat([gradW.reshape([fits, d * classes]), g.sum(1).view([fits, classes])], 1);
      return { values: Array.from(values.toNumbers()), gradient: keep(gradient) };
    });
}

/** The objective of u = θ / scale (elementwise, scale [runs, P]): a diagonal preconditioner for L-BFGS. */
function rescaled(objective: Objective, scale: Tensor): Objective {
  return (u) =>
    tidy(() => {
      const { values, gradient } = objective(u.mul(scale));
      const scaled = keep(gradient.mul(scale));
      gradient.dispose();
      return { values, gradient: scaled };
    });
}

/**
 * Each fit's preconditioner [fits, P], for features rotated into the eigenbasis of their covariance
 * (eigenvalues Λ): the data term's curvature along Wᵢ is about c·Λᵢ (c the softmax's, 1/classes at
 * the start) and the L2 term's λ, so u = θ / s with sᵢ = 1/√(c·Λᵢ + λ) (bias: 1/√c) is about
 * equally curved in every direction, as L-BFGS's scalar initial Hessian assumes (raw pixels, whose
 * neighbours are strongly correlated, are far from that unscaled).
 */
function curvatureScale(eigenvalues: Tensor, l2s: number[], classes: number): Tensor {
  return tidy(() => {
    const c = 1 / classes;
    const l2 = tensor(l2s, { dtype: eigenvalues.dtype }).view([l2s.length, 1]);
    const w = eigenvalues.clamp(0).mul(c).view([1, -1]).add(l2).rsqrt(); // [fits, D]
    const perWeight = w.unsqueeze(2).expand([l2s.length, eigenvalues.size(0), classes]).reshape([l2s.length, -1]);
    return cat([perWeight, full([l2s.length, classes], 1 / Math.sqrt(c), { dtype: eigenvalues.dtype })], 1);
  });
}

/** Fits the regressions of softmaxRegressionObjective from zero (or θ₀), preconditioned by curvatureScale; their solutions [fits, P]. */
function fitTogether(rows: Rows, eigenvalues: Tensor, weights: Tensor, l2s: number[], classes: number, options: LbfgsOptions, theta0?: Tensor): LbfgsResult {
  const scale = curvatureScale(eigenvalues, l2s, classes);
  const u0 = tidy(() => (theta0 === undefined ? zeros([l2s.length, parameterCount(rows.x.size(1), classes)]) : theta0.div(scale)));
  const { theta: u, iterations } = lbfgsRuns(rescaled(softmaxRegressionObjective(rows, weights, l2s, classes), scale), u0, options);
  const theta = keep(tidy(() => u.mul(scale)));
  for (const t of [scale, u0, u]) t.dispose();
  return { theta, iterations };
}

/** Each fit's weighted accuracy on the rows: Σᵢ weights[i, r]·[fit r predicts yᵢ]. */
function weightedAccuracy(theta: Tensor, rows: Rows, weights: Tensor, classes: number): number[] {
  return noGrad(() => tidy(() => Array.from(logitsOf(rows.xT, theta, classes).argmax(1).eq(rows.y).float().mul(weights.t()).sum(1).toNumbers())));
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

/**
 * Linear evaluation: multinomial logistic regression on frozen, standardised features [N, D] with
 * int labels, the L2 strength chosen on held-out training rows (or by cross-validation), scored on `test`.
 */
export function linearProbe(
  train: { features: Tensor; labels: Int32Array },
  test: { features: Tensor; labels: Int32Array },
  { l2Grid = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1], heldOut = 0.1, folds = 5, crossValidateBelow = 10_000, maxIterations, seed = 0, label = 'linear probe' }: LinearProbeOptions = {},
): LinearProbeResult {
  return tidy(() => {
    const classes = classCount(train.labels, test.labels);
    const xTrain = train.features.to('float32');
    const mean = xTrain.mean(0, true);
    const std = xTrain.std(0, { keepdim: true }).clamp(1e-8);
    const standard = (x: Tensor) => x.to('float32').sub(mean).div(std);
    const standardised = standard(xTrain);
    // The probe works in the eigenbasis of the standardised features' covariance (a rotation: the
    // L2-regularised minimum is the same, rotated), where curvatureScale's preconditioner is diagonal.
    // With fewer rows than dimensions (600 labels of 784 pixels) the centred rows span at most n − 1
    // of them: the other directions (the smallest eigenvalues) have no data pulling on their
    // weights, whose minimum is 0, and are left out.
    const [lambdas, basis] = ops.linalg_eigh(standardised.t().matmul(standardised).div(standardised.size(0)).double());
    const empty = Math.min(lambdas.size(0) - 1, Math.max(0, lambdas.size(0) - (standardised.size(0) - 1)));
    const [eigenvalues, rotation] = [lambdas.narrow(0, empty, lambdas.size(0) - empty).float(), basis.narrow(1, empty, lambdas.size(0) - empty).float()];
    const x = standardised.matmul(rotation);
    standardised.dispose(); // (one [N, D] copy at a time)
    const y = tensor(train.labels, { dtype: 'int64' });
    const n = train.labels.length;
    const order = new Random(seed, 0x11ea4).permutation(n);
    // The validation parts: k folds of a small set, else one held-out share. One fit per (part, λ),
    // all at once: fit p·|grid| + g leaves part p out and uses λ = grid[g].
    const k = n < crossValidateBelow ? Math.min(folds, n) : 1;
    const fits = k * l2Grid.length;
    const l2s = Array.from({ length: k }, () => l2Grid).flat();
    /** Row weights [count, fits] of fits that take every row's mean. */
    const uniform = (count: number, fits: number) => full([count, fits], 1 / count);
    let fitRows: Rows, fitWeights: Tensor, validRows: Rows, validWeights: Tensor;
    if (k === 1) {
      // One held-out share: the fits see only the other rows, the share is scored apart (no product
      // is spent on it while fitting).
      const cut = Math.max(1, Math.round(n * heldOut));
      const share = (idx: Int32Array): Rows => {
        const i = tensor(idx, { dtype: 'int64' });
        return rowsOf(x.indexSelect(0, i), y.indexSelect(0, i));
      };
      [fitRows, fitWeights, validRows, validWeights] = [share(order.subarray(cut)), uniform(n - cut, fits), share(order.subarray(0, cut)), uniform(cut, fits)];
    } else {
      // Folds: every row is in every fit's products; a fit weighs its own fold's rows 0 while
      // fitting, and only them when scored.
      const fold = new Int32Array(n);
      const sizes = Array.from({ length: k }, (_, p) => {
        const [lo, hi] = [Math.floor((p * n) / k), Math.floor(((p + 1) * n) / k)];
        order.subarray(lo, hi).forEach((i) => (fold[i] = p));
        return hi - lo;
      });
      const foldWeights = (inFold: boolean) => {
        const w = new Float32Array(n * fits);
        fold.forEach((q, i) => {
          for (let p = 0; p < k; p++) if ((q === p) === inFold) w.fill(1 / (inFold ? sizes[p]! : n - sizes[p]!), i * fits + p * l2Grid.length, i * fits + (p + 1) * l2Grid.length);
        });
        return tensor(w).view([n, fits]);
      };
      fitRows = validRows = rowsOf(x, y);
      [fitWeights, validWeights] = [foldWeights(false), foldWeights(true)];
    }
    const iterations = maxIterations ?? (k > 1 ? 200 : 100);
    const fitIterations = Math.ceil(iterations / 2);
    const task = label === null ? null : new Task(label, { total: iterations, unit: 'iterations' });
    const validation = k > 1 ? `${k}-fold` : 'held-out';
    const chosen = fitTogether(fitRows, eigenvalues, fitWeights, l2s, classes, { maxIterations: fitIterations, onIteration: (it) => task?.update(it, `λ ${l2Grid.join(', ')} (${validation})`) });
    const scores = weightedAccuracy(chosen.theta, validRows, validWeights, classes);
    const heldOutAccuracy = Object.fromEntries(l2Grid.map((l2, g) => [String(l2), scores.filter((_, f) => f % l2Grid.length === g).reduce((a, b) => a + b, 0) / k]));
    // (ties go to the first of the grid)
    const best = l2Grid.indexOf(l2Grid.reduce((a, b) => (heldOutAccuracy[String(b)]! > heldOutAccuracy[String(a)]! ? b : a)));
    // The final fit starts from the chosen λ's solutions on the parts (their mean over the folds) and
    // takes the iterations that are left: warm, it needs no more than they did from zero.
    const start = chosen.theta.view([k, l2Grid.length, -1]).select(1, best).mean(0, true);
    chosen.theta.dispose();
    // (the held-out share's copies freed before the whole set's transpose is made)
    if (k === 1) for (const t of [fitRows.x, fitRows.xT, fitRows.y, validRows.x, validRows.xT, validRows.y]) t.dispose();
    const final = fitTogether(k === 1 ? rowsOf(x, y) : fitRows, eigenvalues, uniform(n, 1), [l2Grid[best]!], classes, {
      maxIterations: iterations - fitIterations,
      onIteration: (it) => task?.update(fitIterations + it, `final fit at λ ${l2Grid[best]} (${validation} ${pct(heldOutAccuracy[String(l2Grid[best])]!)})`),
    }, start);
    // the weights back in the features' own basis (W = V·W'): the test rows are only standardised
    const d = x.size(1);
    const unrotated = cat([rotation.matmul(final.theta.narrow(1, 0, d * classes).view([d, classes])).view([1, -1]), final.theta.narrow(1, d * classes, classes)], 1);
    const predictions = noGrad(() => tidy(() => Int32Array.from(logitsOf(standard(test.features).t(), unrotated, classes).argmax(1).view([-1]).toArray() as BigInt64Array, Number)));
    const result = predictions.reduce((n, p, i) => n + Number(p === test.labels[i]), 0) / predictions.length;
    task?.end(`λ ${l2Grid[best]} (${validation} ${pct(heldOutAccuracy[String(l2Grid[best])]!)}), test ${pct(result)}`);
    final.theta.dispose();
    return { accuracy: result, l2: l2Grid[best]!, heldOutAccuracy, iterations: final.iterations[0]!, predictions };
  });
}
