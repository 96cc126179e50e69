// Evaluation: kNN votes, L-BFGS / the linear probe and the SGD linear protocol against hand-made
// problems with known answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { autogradObjective, cat, grad, knnPredict, lbfgs, lbfgsRuns, linearProbe, tensor, tidy, randn, manualSeed, memory, zeros, F, MemorySource, type Tensor } from '../src/index.js';
import { Module } from '../src/nn/module.js';
import { rowsOf, softmaxRegressionObjective } from '../src/eval/linear.js';
import { augmentedFeatures, fixedFeatures, linearAccuracy, linearSgd, trainLinearSgd } from '../src/eval/linear-sgd.js';
import { collectGarbage, repoRoot } from './helpers.js';

test('kNN: weighted votes of the nearest neighbours by cosine similarity', () => {
  tidy(() => {
    // bank: class 0 points along +x, class 1 along +y; k = 3
    const bank = tensor([[1, 0], [0.9, 0.1], [0.8, -0.1], [0, 1], [0.1, 0.9]]);
    const labels = Int32Array.from([0, 0, 0, 1, 1]);
    const q = tensor([[1, 0.05], [0.05, 1], [-1, 0.2]]);
    assert.deepEqual(Array.from(knnPredict(bank, labels, q, { k: 3 })), [0, 1, 1]);
    // with k = 1 only the single nearest neighbour votes
    assert.deepEqual(Array.from(knnPredict(bank, labels, tensor([[0.6, 0.5]]), { k: 1 })), [0]);
    // the weights exp(sim/τ): two weak class-0 votes lose to one strong class-1 vote at low τ
    const bank2 = tensor([[1, 0], [0.8, 0.6], [0.8, -0.6]]);
    const l2 = Int32Array.from([1, 0, 0]);
    assert.deepEqual(Array.from(knnPredict(bank2, l2, tensor([[1, 0]]), { k: 3, temperature: 0.05 })), [1]);
    assert.deepEqual(Array.from(knnPredict(bank2, l2, tensor([[1, 0]]), { k: 3, temperature: 10 })), [0]);
  });
});

test('L-BFGS finds the minimum of a quadratic (closed form)', () => {
  tidy(() => {
    // f(x) = ½ xᵀAx − bᵀx with A SPD: minimum at A⁻¹b
    const a = tensor([[4, 1, 0], [1, 3, 0.5], [0, 0.5, 2]], { dtype: 'float64' });
    const b = tensor([1, 2, 3], { dtype: 'float64' });
    const { theta } = lbfgs((x: Tensor) => x.matmul(a).matmul(x).mul(0.5).sub(b.matmul(x)), tensor([0, 0, 0], { dtype: 'float64' }), { tolerance: 1e-10 });
    // Cramer's rule by hand: det A = 4·5.75 − 1·2 = 21; x₀ = det[b a₁ a₂] / 21 = (5.75 − 2.5) / 21
    const x0 = theta.toNumbers()[0]!;
    assert.ok(Math.abs(x0 - 3.25 / 21) < 1e-6, `x0 ${x0}`);
    const residual = a.matmul(theta).sub(b).abs().amax().item();
    assert.ok(residual < 1e-6, `residual ${residual}`);
    theta.dispose();
  });
});

test('L-BFGS runs several problems at once, each to its own minimum and at its own pace', () => {
  tidy(() => {
    // run r minimises ½ Σⱼ aᵣⱼ (xⱼ − cᵣⱼ)²: minimum at cᵣ; run 2 starts at its minimum (no iteration)
    const a = tensor([[1, 10, 100], [2, 2, 2], [5, 1, 3]], { dtype: 'float64' });
    const c = tensor([[1, -2, 3], [0.5, 0.5, -1], [4, 0, 1]], { dtype: 'float64' });
    const start = tensor([[0, 0, 0], [0, 0, 0], [4, 0, 1]], { dtype: 'float64' });
    const { theta, iterations } = lbfgsRuns(autogradObjective((x: Tensor) => x.sub(c).square().mul(a).sum(1).mul(0.5)), start, { tolerance: 1e-9 });
    assert.ok(theta.sub(c).abs().amax().item() < 1e-7, `largest error ${theta.sub(c).abs().amax().item()}`);
    assert.equal(iterations[2], 0);
    // an isotropic quadratic takes two steps (the second scaled by the first pair's exact curvature);
    // the ill-conditioned one needs more
    assert.equal(iterations[1], 2);
    assert.ok(iterations[0]! > 2, `${iterations[0]} iterations`);
  });
});

test('the probe\'s softmax-regression objective: values and gradients of every fit equal autograd\'s cross-entropy', () => {
  manualSeed(8);
  tidy(() => {
    // 3 fits (different λ and row weights) on 37 rows of 5 features, 4 classes, float64
    const [n, d, classes, l2s] = [37, 5, 4, [0, 0.3, 2]];
    const x = randn([n, d], { dtype: 'float64' });
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 5) % classes);
    const y = tensor(labels, { dtype: 'int64' });
    // fit 0: every row; fit 1: the first 20; fit 2: the rest
    const member = [() => true, (i: number) => i < 20, (i: number) => i >= 20];
    const counts = member.map((m) => labels.filter((_, i) => m(i)).length);
    const weights = tensor(Array.from({ length: n }, (_, i) => member.map((m, r) => (m(i) ? 1 / counts[r]! : 0))), { dtype: 'float64' });
    const theta = randn([3, d * classes + classes], { dtype: 'float64' });
    const { values, gradient } = softmaxRegressionObjective(rowsOf(x, y), weights, l2s, classes)(theta);
    // independently: each fit alone, F.crossEntropy over its own rows, differentiated by autograd
    member.forEach((m, r) => {
      const rowsOfFit = tensor(Array.from({ length: n }, (_, i) => i).filter(m), { dtype: 'int64' });
      const t = theta.select(0, r).detach().requiresGrad_(true);
      const w = t.narrow(0, 0, d * classes).view([d, classes]);
      const loss = F.crossEntropy(x.indexSelect(0, rowsOfFit).matmul(w).add(t.narrow(0, d * classes, classes)), y.indexSelect(0, rowsOfFit)).add(w.square().sum().mul(l2s[r]! / 2));
      const [g] = grad(loss, [t]);
      assert.ok(Math.abs(values[r]! - loss.item()) < 1e-12, `fit ${r}: value ${values[r]} vs ${loss.item()}`);
      assert.ok(gradient.select(0, r).sub(g!).abs().amax().item() < 1e-12, `fit ${r}: gradient`);
    });
    gradient.dispose();
  });
});

test('the linear probe\'s held-out fits never see the rows they are scored on', () => {
  manualSeed(3);
  tidy(() => {
    // Pure noise: 80 dimensions for 100 rows with random labels. A fit that saw its validation rows
    // would memorise them (held-out accuracy near 1 at the weakest λ); one that did not is at chance.
    const n = 100;
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 7919) % 2);
    const features = randn([n, 80]);
    for (const crossValidateBelow of [1000, 0]) {
      // (5-fold cross-validation below 1,000 rows; one held-out share of 40% with 0)
      const r = linearProbe({ features, labels }, { features, labels }, { l2Grid: [1e-6], heldOut: 0.4, crossValidateBelow, label: null });
      assert.ok(r.heldOutAccuracy['0.000001']! < 0.75, `held-out accuracy ${r.heldOutAccuracy['0.000001']} (crossValidateBelow ${crossValidateBelow})`);
      // while the final fit, on every row, memorises them
      assert.equal(r.accuracy, 1);
    }
  });
});

test('the linear probe separates separable classes and picks λ on held-out data', () => {
  tidy(() => {
    const n = 600;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const centres = tensor([[4, 0, 0, 0], [0, 4, 0, 0], [0, 0, 4, 0]]);
    const make = () => centres.index([tensor(labels, { dtype: 'int64' })]).add(randn([n, 4]).mul(0.5));
    const r = linearProbe({ features: make(), labels }, { features: make(), labels }, { l2Grid: [1e-4, 1e-2] });
    assert.equal(r.accuracy, 1);
    assert.ok([1e-4, 1e-2].includes(r.l2));
    assert.deepEqual(Object.keys(r.heldOutAccuracy).sort(), ['0.0001', '0.01']);
  });
});

/**
 * How often the linear probe (one λ) predicts what the minimum of its objective does on test rows:
 * the minimum found independently, with the same standardisation, F.crossEntropy + λ/2 ‖W‖² by
 * autograd, float64, by L-BFGS in the features' own basis to convergence.
 */
function agreementWithMinimum(train: { features: Tensor; labels: Int32Array }, test: { features: Tensor; labels: Int32Array }, classes: number, l2: number): { agree: number; iterations: number } {
  return tidy(() => {
    collectGarbage();
    const before = memory().tensors;
    const probe = linearProbe(train, test, { l2Grid: [l2], label: null });
    assert.equal(memory().tensors, before, 'the probe frees what it makes');
    const x = train.features.double();
    const [mean, std] = [x.mean(0, true), x.std(0, { keepdim: true })];
    const standard = (f: Tensor) => f.double().sub(mean).div(std);
    const { logits, iterations } = crossEntropyFit(standard(x), train.labels, classes, { l2, maxIterations: 5000, tolerance: 1e-9 });
    const reference = logits(standard(test.features)).argmax(1).to('int32').toArray() as Int32Array;
    return { agree: reference.filter((p, i) => p === probe.predictions[i]).length / reference.length, iterations };
  });
}

test('the linear probe reaches the L2-regularised minimum on correlated, ill-conditioned features, and with fewer rows than dimensions', () => {
  manualSeed(21);
  tidy(() => {
    // Labels from a noisy linear rule on a latent z; the features mix z through diag(s)·R, s spanning
    // 10⁻³…10: correlated directions of very different scale that per-column standardising leaves.
    const [d, classes] = [30, 4];
    const s = tensor(Array.from({ length: d }, (_, i) => 10 ** (1 - (4 * i) / (d - 1))));
    const mixing = s.view([d, 1]).mul(randn([d, d]).div(Math.sqrt(d)));
    const rule = randn([d, classes]);
    const make = (count: number) => {
      const z = randn([count, d]);
      const labels = Int32Array.from(z.matmul(rule).add(randn([count, classes]).mul(0.5)).argmax(1).to('int32').toArray() as Int32Array);
      return { features: z.matmul(mixing), labels };
    };
    const hard = agreementWithMinimum(make(3000), make(2000), classes, 1e-4);
    assert.ok(hard.iterations > 200, `the problem is hard for unscaled L-BFGS: ${hard.iterations} iterations`);
    assert.ok(hard.agree >= 0.998, `the probe agrees with the minimum on ${(100 * hard.agree).toFixed(2)}% of test rows`);
    // 40 rows of 30 dimensions padded to 60 by copies mixed with noise (5-fold cross-validation):
    // the rows span 39 directions, the probe fits in those alone
    const wide = (count: number) => {
      const { features, labels } = make(count);
      return { features: cat([features, features.matmul(randn([d, d])).add(randn([count, d]))], 1), labels };
    };
    const few = agreementWithMinimum(wide(40), wide(2000), classes, 1e-2);
    assert.ok(few.agree >= 0.998, `with fewer rows than dimensions the probe agrees with the minimum on ${(100 * few.agree).toFixed(2)}% of test rows`);
  });
});

/**
 * The multinomial cross-entropy on (x, y) + λ/2 ‖W‖² (λ = 0: unregularised) minimised by L-BFGS from
 * zero, θ = [W, b] in x's type: its value at the minimum and the logits it gives other rows.
 */
function crossEntropyFit(x: Tensor, labels: Int32Array, classes: number, { l2 = 0, maxIterations = 500, tolerance = 1e-7 } = {}) {
  const d = x.size(1);
  const y = tensor(labels, { dtype: 'int64' });
  const logits = (f: Tensor, t: Tensor) => f.matmul(t.narrow(0, 0, d * classes).view([d, classes])).add(t.narrow(0, d * classes, classes));
  const objective = (t: Tensor) => F.crossEntropy(logits(x, t), y).add(t.narrow(0, 0, d * classes).square().sum().mul(l2 / 2));
  const { theta, iterations } = lbfgs(objective, zeros([d * classes + classes], { dtype: x.dtype }), { maxIterations, tolerance });
  return { value: objective(theta).item(), iterations, logits: (f: Tensor) => logits(f, theta) };
}

/** The minimum of the unregularised multinomial cross-entropy on (x, y). */
const crossEntropyMinimum = (x: Tensor, labels: Int32Array, classes: number): number => tidy(() => crossEntropyFit(x, labels, classes).value);

test('SGD linear protocol: reaches the cross-entropy minimum and the Bayes accuracy of Gaussian clusters', async () => {
  manualSeed(11);
  // 3 classes, unit-variance isotropic Gaussians centred on an equilateral triangle of radius 1.5 in
  // the first 2 of 5 dimensions (3 pure-noise dimensions); overlapping, so the minimum is finite
  const classes = 3;
  const radius = 1.5;
  const centre = (c: number) => [radius * Math.cos((2 * Math.PI * c) / classes), radius * Math.sin((2 * Math.PI * c) / classes)];
  const make = (n: number) => {
    const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
    const x = tidy(() => tensor(Array.from({ length: classes }, (_, c) => [...centre(c), 0, 0, 0])).index([tensor(labels, { dtype: 'int64' })]).add(randn([n, 5])));
    return { x, labels };
  };
  const train = make(3000);
  const test = make(6000);
  // Bayes-optimal accuracy (equal priors and covariances: the nearest centre), by integrating the
  // density of class 0 over its Voronoi cell on a grid; by symmetry every class scores the same
  let bayes = 0;
  const h = 0.01;
  const [c0, c1, c2] = [centre(0), centre(1), centre(2)] as [number, number][];
  for (let u = -9; u < 9; u += h) {
    for (let v = -9; v < 9; v += h) {
      const d0 = (u - c0[0]) ** 2 + (v - c0[1]) ** 2;
      if (d0 <= (u - c1[0]) ** 2 + (v - c1[1]) ** 2 && d0 <= (u - c2[0]) ** 2 + (v - c2[1]) ** 2) bayes += (Math.exp(-d0 / 2) / (2 * Math.PI)) * h * h;
    }
  }
  assert.ok(bayes > 0.8 && bayes < 0.86, `Bayes accuracy ${bayes}`); // sanity of the integration
  const minimum = crossEntropyMinimum(train.x, train.labels, classes);
  collectGarbage();
  const before = memory().tensors;
  const trained = await trainLinearSgd(fixedFeatures(train.x, train.labels), { seed: 3 }); // the defaults: 90 epochs, batch 256
  assert.equal(trained.epochs, 90);
  assert.equal(trained.batchSize, 256);
  assert.equal(trained.lr, 0.1);
  assert.equal(trained.stepsPerEpoch, 11); // 3000 / 256, the partial batch dropped
  const ce = tidy(() => F.crossEntropy(trained.fc.forward(train.x), tensor(train.labels, { dtype: 'int64' })).item());
  // measured: a gap of 5–8e-6 over seeds 3–6; with a constant lr (no cosine decay to 0), 1–3e-4
  assert.ok(ce >= minimum - 1e-5 && ce - minimum < 3e-5, `cross-entropy ${ce} vs minimum ${minimum}`);
  const accuracy = linearAccuracy(trained.fc, test.x, test.labels);
  assert.ok(Math.abs(accuracy - bayes) < 0.015, `accuracy ${accuracy} vs Bayes ${bayes}`);
  trained.fc.dispose();
  assert.equal(memory().tensors, before);
  // the wrapper scores the test split and frees everything; the same seed gives the same run
  const r = await linearSgd(fixedFeatures(train.x, train.labels), { features: test.x, labels: test.labels }, { seed: 3 });
  assert.equal(r.accuracy, accuracy);
  assert.equal(memory().tensors, before);
  for (const t of [train.x, test.x]) t.dispose();
});

/** A frozen "encoder" on uniform-colour images: 10·(mean colour − 0.5), with a parameter that must not move. */
class MeanColour extends Module {
  readonly modes: boolean[] = [];
  constructor() {
    super();
    this.registerParameter('scale', tensor([10]));
  }
  get scale(): Tensor {
    return this.param('scale')!;
  }
  forward(x: Tensor): Tensor {
    this.modes.push(this.training);
    return x.mean([2, 3]).sub(0.5).mul(this.scale);
  }
}

test('SGD linear protocol with crop and flip: the encoder frozen in eval mode, the minimum reached', async () => {
  manualSeed(12);
  // images of one colour each (class mean + noise): every crop and flip of one has the same features
  const n = 600;
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  const colours = tidy(() => tensor([[0.4, 0.5, 0.6], [0.5, 0.6, 0.4], [0.6, 0.4, 0.5]]).index([tensor(labels, { dtype: 'int64' })]).add(randn([n, 3]).mul(0.1)).clamp(0, 1).mul(255).round());
  const source = new MemorySource(tidy(() => colours.view([n, 3, 1, 1]).expand([n, 3, 8, 8]).contiguous().to('uint8')), labels, null, 'colours');
  const encoder = new MeanColour();
  encoder.train();
  const x = tidy(() => colours.div(255).sub(0.5).mul(10)); // the features of the uncropped images, by hand
  const minimum = crossEntropyMinimum(x, labels, 3);
  const trained = await trainLinearSgd(augmentedFeatures(source, encoder, { size: 8, dim: 3, seed: 1 }), { epochs: 30, batchSize: 64 });
  const ce = tidy(() => F.crossEntropy(trained.fc.forward(x), tensor(labels, { dtype: 'int64' })).item());
  assert.ok(ce >= minimum - 1e-5 && ce - minimum < 5e-4, `cross-entropy ${ce} vs minimum ${minimum}`);
  assert.equal(encoder.modes.length, 30 * 9); // re-run on every batch (600 / 64: 9 steps an epoch)
  assert.ok(encoder.modes.every((training) => !training), 'the encoder ran in eval mode');
  assert.equal(encoder.training, true); // and its mode is restored
  assert.equal(encoder.scale.grad, null);
  assert.deepEqual(encoder.scale.toNumbers(), [10]);
  trained.fc.dispose();
  // the crops are real: on a non-uniform image, views differ between steps and repeat for the same step
  const ramp = new MemorySource(tidy(() => tensor(Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => (i % 64) * 4), { shape: [1, 3, 8, 8] }).to('uint8')), Int32Array.from([0]), null, 'ramp');
  const pixels = augmentedFeatures(ramp, null, { size: 8, dim: 192, seed: 1 });
  const eight = new Int32Array(8); // the same image 8 times: a view of it each
  const views = await Promise.all([[0, 0], [0, 0], [0, 1], [1, 0]].map(([epoch, step]) => pixels.batch(eight, epoch!, step!)));
  const differ = (a: Tensor, b: Tensor) => tidy(() => a.sub(b).abs().amax().item()) > 1e-3;
  assert.equal(differ(views[0]!, views[1]!), false);
  assert.ok(differ(views[0]!, views[2]!) && differ(views[0]!, views[3]!));
  assert.ok(tidy(() => differ(views[0]!.narrow(0, 0, 4), views[0]!.narrow(0, 4, 4))), 'each image gets its own crop');
  for (const t of [...views, x, colours]) t.dispose();
  encoder.dispose();
  source.dispose();
  ramp.dispose();
});

test('simclr eval rejects flags of another protocol or solver, naming them', () => {
  const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'eval', '--baseline', 'pixels', '--data', '/nonexistent', ...args], { encoding: 'utf8' });
  for (const [args, flag] of [
    [['--protocol', 'knn', '--solver', 'sgd'], '--solver'],
    [['--protocol', 'linear', '--augment'], '--augment'],
    [['--protocol', 'linear', '--solver', 'lbfgs', '--epochs', '5'], '--epochs'],
    [['--protocol', 'knn', '--weight-decay', '0.1'], '--weight-decay'],
    [['--protocol', 'linear', '--solver', 'sgd', '--k', '5'], '--k'],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${flag} applies to`), args.join(' '));
  }
  const help = spawnSync(process.execPath, [cli, 'eval', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /--solver <lbfgs\|sgd>/);
  assert.match(help.stdout, /--epochs <int>\s+finetune, linear with --solver sgd: .*\(default: 0\)/);
});

test('kNN and the linear probe take more labels than fit in a call\'s arguments (200,000)', () => {
  manualSeed(5);
  tidy(() => {
    // Four well-separated clusters in 2-d: any working classifier gets them right.
    const n = 200_000;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
    const centres = tensor([[4, 0], [0, 4], [-4, 0], [0, -4]]);
    const features = centres.indexSelect(0, tensor(labels, { dtype: 'int64' })).add(randn([n, 2]).mul(0.5));
    const queries = features.narrow(0, 0, 1000);
    const predicted = knnPredict(features, labels, queries, { k: 5 });
    assert.ok(predicted.every((p, i) => p === labels[i]));
    const probe = linearProbe({ features, labels }, { features: queries, labels: labels.subarray(0, 1000) }, { l2Grid: [1e-4], maxIterations: 30, label: null });
    assert.ok(probe.accuracy > 0.99, String(probe.accuracy));
  });
});
