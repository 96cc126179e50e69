// Optimizers against torch.optim (fixture from scripts/fixtures/make_optim_fixture.py), LARS against
// its reference formula computed by hand, and the learning-rate rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSafetensors, optim, tensor, tidy, nn, type Tensor } from '../src/index.js';
import { relativeError, repoRoot } from './helpers.js';

const { SGD, Adam, AdamW, LARS, larsGroups, scaledLearningRate, warmupCosine } = optim;

test('SGD, Adam and AdamW equal torch.optim over 10 steps', () => {
  const { tensors: fx } = loadSafetensors(join(repoRoot, 'test', 'fixtures', 'optim.safetensors'));
  const make: Record<string, (ps: Tensor[]) => optim.Optimizer<optim.GroupOptions>> = {
    sgd: (ps) => new SGD(ps, { lr: 0.1 }),
    sgd_momentum: (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2 }),
    sgd_nesterov: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }),
    adam: (ps) => new Adam(ps, { lr: 1e-2, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 1e-2 }),
    adamw: (ps) => new AdamW(ps, { lr: 1e-2, weightDecay: 1e-1 }),
  };
  for (const [name, build] of Object.entries(make)) {
    tidy(() => {
      const params = { w: fx.get('init.w')!.clone().requiresGrad_(), b: fx.get('init.b')!.clone().requiresGrad_() };
      const opt = build([params.w, params.b]);
      for (let t = 0; t < 10; t++) {
        for (const [k, p] of Object.entries(params)) p.grad = fx.get(`grad.${t}.${k}`)!.clone();
        opt.step();
        for (const [k, p] of Object.entries(params)) {
          const err = relativeError(p, fx.get(`${name}.${t}.${k}`)!);
          assert.ok(err < 1e-6, `${name} step ${t} ${k}: ${err}`);
        }
      }
      opt.dispose();
    });
  }
  for (const t of fx.values()) t.dispose();
});

test('optimizer state saves and restores: a resumed run continues identically', () => {
  tidy(() => {
    const grads = [tensor([0.5, -1, 2], { dtype: 'float64' }), tensor([1, 1, -0.5], { dtype: 'float64' }), tensor([-2, 0.1, 0.3], { dtype: 'float64' })];
    const run = (resumeAfter: number | null) => {
      let p = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
      let opt = new Adam([p], { lr: 0.1 });
      for (let i = 0; i < grads.length; i++) {
        if (i === resumeAfter) {
          const saved = opt.stateDict();
          const copy = { tensors: new Map([...saved.tensors].map(([k, v]) => [k, v.clone()])), meta: JSON.parse(JSON.stringify(saved.meta)) };
          const q = p.detach().clone().requiresGrad_();
          opt.dispose();
          p = q;
          opt = new Adam([p], { lr: 0.5 }); // hyper-parameters come back from the state too
          opt.loadStateDict(copy);
        }
        p.grad = grads[i]!;
        opt.step();
      }
      assert.equal(opt.steps, 3);
      return p.toNumbers();
    };
    assert.deepEqual(run(2), run(null));
  });
});

test('LARS follows the reference formula, with biases and BN excluded', () => {
  tidy(() => {
    // Weight: w = [3, 4] (‖w‖ = 5), g = [0.6, 0.8] (‖g‖ = 1), wd = 0.1, η = 0.001, lr = 2, m = 0.9
    // d = g + wd·w = [0.9, 1.2], ‖d‖ = 1.5; trust = η‖w‖/‖d‖ = 0.001·5/1.5
    // v1 = lr·trust·d ; w1 = w − v1 ; step 2 with the same g: d2 = g + wd·w1, v2 = m·v1 + lr·trust2·d2
    const w = tensor([3, 4], { dtype: 'float64', requiresGrad: true });
    const bias = tensor([1, -1], { dtype: 'float64', requiresGrad: true });
    const opt = new LARS(
      [
        { params: [w], weightDecay: 0.1 },
        { params: [bias], weightDecay: 0, layerAdaptation: false },
      ],
      { lr: 2 },
    );
    const g = [0.6, 0.8];
    const gb = [0.5, 0.25];
    let wv = [3, 4];
    let v = [0, 0];
    let bv = [1, -1];
    let vb = [0, 0];
    for (let step = 0; step < 2; step++) {
      w.grad = tensor(g, { dtype: 'float64' });
      bias.grad = tensor(gb, { dtype: 'float64' });
      opt.step();
      const d = g.map((x, i) => x + 0.1 * wv[i]!);
      const trust = (0.001 * Math.hypot(...wv)) / Math.hypot(...d);
      v = v.map((x, i) => 0.9 * x + 2 * trust * d[i]!);
      wv = wv.map((x, i) => x - v[i]!);
      // the bias: no weight decay, no trust ratio: plain momentum SGD
      vb = vb.map((x, i) => 0.9 * x + 2 * gb[i]!);
      bv = bv.map((x, i) => x - vb[i]!);
      w.toNumbers().forEach((x, i) => assert.ok(Math.abs(x - wv[i]!) < 1e-12, `w step ${step}`));
      bias.toNumbers().forEach((x, i) => assert.ok(Math.abs(x - bv[i]!) < 1e-12, `bias step ${step}`));
    }
    // a zero weight gets trust ratio 1
    const z = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
    const lz = new LARS([z], { lr: 0.5, momentum: 0 });
    z.grad = tensor([1, 2], { dtype: 'float64' });
    lz.step();
    assert.deepEqual(z.toNumbers(), [-0.5, -1]);
    opt.dispose();
    lz.dispose();
  });
});

test('larsGroups puts biases and BatchNorm parameters in the excluded group', () => {
  const model = new nn.Sequential(new nn.Linear(4, 3), new nn.BatchNorm1d(3), new nn.Linear(3, 2));
  const [decayed, excluded] = larsGroups(model, 1e-6);
  assert.deepEqual(decayed!.params.map((p) => p.shape), [[3, 4], [2, 3]]);
  assert.equal(excluded!.params.length, 4);
  assert.equal(excluded!.weightDecay, 0);
  assert.equal(excluded!.layerAdaptation, false);
  model.dispose();
});

test('learning-rate scaling and warm-up + cosine decay', () => {
  assert.equal(scaledLearningRate(0.3, 4096, 'linear'), 4.8);
  assert.ok(Math.abs(scaledLearningRate(0.075, 4096, 'sqrt') - 4.8) < 1e-12);
  const s = { peak: 1, warmupSteps: 10, totalSteps: 110 };
  assert.equal(warmupCosine(s, 0), 0);
  assert.equal(warmupCosine(s, 5), 0.5);
  assert.equal(warmupCosine(s, 10), 1);
  assert.ok(Math.abs(warmupCosine(s, 60) - 0.5) < 1e-12);
  assert.ok(Math.abs(warmupCosine(s, 110)) < 1e-12);
  assert.ok(Math.abs(warmupCosine({ ...s, final: 0.1 }, 110) - 0.1) < 1e-12);
});

test('an optimizer built before Module.to() says what happened to its parameters', () => {
  const model = new nn.Linear(3, 2);
  const opt = new Adam(model.parameters());
  model.to({ dtype: 'float64' });
  tidy(() => model.forward(tensor([[1, 2, 3]], { dtype: 'float64' })).sum().backward());
  assert.throws(() => opt.step(), /optimizer: one of its parameters was disposed\. Module\.to\(\) and Module\.dispose\(\) replace or free/);
  model.dispose();
});
