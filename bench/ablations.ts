// The paper's ablations at a scale a laptop runs: the sweep files in bench/ablations/ (each with the
// direction the paper found, in its header and in FINDINGS below) run by `simclr sweep` on a class-
// balanced part of CIFAR-10 (scripts/cifar10.sh fetches it: 1,000 training and 200 test images per
// class, the first in file order; --per-class, --test-per-class), 3 seeds per setting, every
// encoder scored by kNN and the linear probe, all labels and 1% of them. For the composition and head
// ablations, the same settings trained by PyTorch (bench/torch_simclr.py) and scored by the same
// protocol. Each finding gets a verdict on the linear probe (all labels), the paper's measure:
// reproduced (the direction holds by more than the two settings' standard deviations over seeds
// summed), not reproduced (the opposite holds by as much), or not resolvable at this scale (within
// the spread). Prints JSON; --markdown FILE writes the tables and verdict lines, --charts DIR the
// SVG charts (the README's).
//   scripts/cifar10.sh data/cifar10
//   node dist/bench/ablations.js --data data/cifar10 [--only composition,head,strength,temperature,batch]
//        [--torch composition,head] [--dir runs/ablations] [--parallel 2] [--markdown FILE] [--charts DIR]
//   (--data colour32: the colour set of bench/colour32.ts instead, where colour alone identifies each image)
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encoderFeatures, scoreFeatures, summaryColumns } from '../src/eval/compare.js';
import { meanStd, openEvalData } from '../src/eval/evaluate.js';
import { readSweep } from '../src/cli/sweep.js';
import { settingChart, type ChartSeries } from '../src/report/chart.js';
import { pm as meanSpread, settingScores, SWEEP_METRICS, type SettingScores, type SweepColumns, type SweepSummary } from '../src/report/sweep-report.js';
import { loadEncoder } from '../src/simclr/encoder-file.js';
import { colourFolder } from './colour32.js';
import { option, repoRoot, runToEnd, torchPython, twoAtATime, TUNED_MALLOC } from './common.js';

const SWEEPS = ['composition', 'head', 'strength', 'temperature', 'batch'] as const;
type SweepName = (typeof SWEEPS)[number];

/** A finding of the paper: `better` beats `worse` on the linear probe (all labels); `on` says which features. */
interface Finding {
  sweep: SweepName;
  claim: string;
  better: Record<string, unknown>;
  worse: Record<string, unknown>;
  betterOn?: 'h' | 'z';
  worseOn?: 'h' | 'z';
}
const FINDINGS: Finding[] = [
  { sweep: 'composition', claim: 'crop + colour beats crop alone (Figure 5)', better: { augment: 'crop+color' }, worse: { augment: 'crop' } },
  { sweep: 'composition', claim: 'crop + colour beats colour alone (Figure 5)', better: { augment: 'crop+color' }, worse: { augment: 'color' } },
  { sweep: 'composition', claim: 'crop + colour beats crop + blur (Figure 5)', better: { augment: 'crop+color' }, worse: { augment: 'crop+blur' } },
  { sweep: 'strength', claim: 'stronger colour distortion helps: s 1 beats s 0.25 (Table 1)', better: { strength: 1 }, worse: { strength: 0.25 } },
  { sweep: 'head', claim: 'h beats z, the non-linear head\'s output (Figure 8)', better: { head: 'v1' }, worse: { head: 'v1' }, worseOn: 'z' },
  { sweep: 'head', claim: 'the non-linear head gives a better h than none (Figure 8)', better: { head: 'v1' }, worse: { head: 'none' } },
  { sweep: 'head', claim: 'the non-linear head gives a better h than a linear head (Figure 8)', better: { head: 'v1' }, worse: { head: 'linear' } },
  { sweep: 'head', claim: 'a linear head gives a better h than none (Figure 8)', better: { head: 'linear' }, worse: { head: 'none' } },
  { sweep: 'temperature', claim: 'τ 0.1 beats τ 1 (Table 5)', better: { temperature: 0.1 }, worse: { temperature: 1 } },
  { sweep: 'temperature', claim: 'τ 0.1 beats τ 0.05 (Table 5)', better: { temperature: 0.1 }, worse: { temperature: 0.05 } },
  { sweep: 'temperature', claim: 'τ 0.5 beats τ 1 (Table 5)', better: { temperature: 0.5 }, worse: { temperature: 1 } },
  { sweep: 'batch', claim: 'batch 1024 beats batch 128 at a fixed, short number of epochs (Figure 9)', better: { batchSize: 1024 }, worse: { batchSize: 128 } },
];

const only = option('--only', SWEEPS.join(',')).split(',') as SweepName[];
for (const name of only) if (!SWEEPS.includes(name)) throw new Error(`--only: unknown ablation '${name}' (${SWEEPS.join(', ')})`);
const py = torchPython();
const torchSweeps = option('--torch', py === null ? '' : 'composition,head').split(',').filter((n) => n !== '' && only.includes(n as SweepName)) as SweepName[];
const dir = option('--dir', join(repoRoot, 'runs', 'ablations'));
const parallel = option('--parallel', '2');
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const perClass = Number(option('--per-class', '1000'));
const testPerClass = Number(option('--test-per-class', '200'));
// (--data colour32: bench/colour32.ts's colourised Fashion-MNIST, 10,000 training and 2,000 test images, where each image's random colours identify it)
const source = option('--data', join(repoRoot, 'data', 'cifar10'));
const data = source === 'colour32' ? await colourFolder(10_000) : balancedPart(source, join(dir, `data-${perClass}-${testPerClass}`));
mkdirSync(dir, { recursive: true });

/** The first `perClass` training and `testPerClass` test images of each class of `source` (train/ and test/ class folders), copied once into `dest`. */
function balancedPart(source: string, dest: string): string {
  if (!existsSync(join(source, 'train')) || !existsSync(join(source, 'test'))) throw new Error(`${source}: no train/ and test/ class folders (scripts/cifar10.sh ${source} makes them)`);
  if (existsSync(dest)) return dest;
  const partial = `${dest}.partial`;
  rmSync(partial, { recursive: true, force: true });
  for (const [split, count] of [['train', perClass], ['test', testPerClass]] as const) {
    for (const cls of readdirSync(join(source, split)).sort()) {
      const files = readdirSync(join(source, split, cls)).sort();
      if (files.length < count) throw new Error(`${join(source, split, cls)}: ${files.length} images, fewer than ${count}`);
      mkdirSync(join(partial, split, cls), { recursive: true });
      for (const f of files.slice(0, count)) copyFileSync(join(source, split, cls, f), join(partial, split, cls, f));
    }
  }
  renameSync(partial, dest);
  return dest;
}

// Ours: each sweep file with the data filled in, run by simclr sweep (resumable: a finished sweep only reprints its table).
const summaries: Partial<Record<SweepName, SweepSummary>> = {};
for (const name of only) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, readFileSync(join(repoRoot, 'bench', 'ablations', `${name}.yaml`), 'utf8').replace(/^base:$/m, `base:\n  data: ${data}`));
  await runToEnd(process.execPath, [cli, 'sweep', file, '--out', join(dir, name), '--parallel', parallel, ...(name === 'head' ? ['--probe-z'] : [])]);
  summaries[name] = JSON.parse(readFileSync(join(dir, name, 'summary.json'), 'utf8')) as SweepSummary;
}

// PyTorch: the same combinations (the settings the sweep file grids; the base recipe spelled out for torch_simclr.py).
const torchArg: Record<string, (v: unknown) => string[]> = {
  augment: (v) => ['--augment', String(v)],
  head: (v) => ['--head', String(v)],
  seed: (v) => ['--seed', String(v)],
};
const torchRuns: Partial<Record<SweepName, SweepSummary>> = {};
for (const name of torchSweeps) {
  const plan = readSweep(join(dir, `${name}.yaml`));
  const encoder = (folder: string) => join(dir, `torch-${name}`, folder, 'encoder.safetensors');
  await twoAtATime(
    plan.runs
      .filter((run) => !existsSync(encoder(run.folder)))
      .map((run) => () => {
        mkdirSync(join(dir, `torch-${name}`, run.folder), { recursive: true });
        const settings = Object.entries(run.settings).flatMap(([k, v]) => torchArg[k]!(v));
        const recipe = ['--folder', data, '--image-size', '32', '--stem', 'cifar', '--strength', '0.5', '--tau', '0.2', '--lr', '4e-3', '--warmup-epochs', '0.5', '--epochs', '5', '--bf16', '--blur', String(plan.base.blur ?? 0)];
        return runToEnd(py!, [join(repoRoot, 'bench', 'torch_simclr.py'), '--workers', '0', '--threads', '1', ...recipe, ...settings, '--out', encoder(run.folder)], { ...process.env, ...TUNED_MALLOC });
      }),
  );
  // Scored as the sweep scores its runs: kNN and the linear probe, all labels and 1% (3 draws), the run's seed.
  const scored = join(dir, `torch-${name}`, 'scores.json');
  const cache = (existsSync(scored) ? JSON.parse(readFileSync(scored, 'utf8')) : {}) as Record<string, SweepColumns>;
  const evalData = await openEvalData(data, 32);
  for (const run of plan.runs) {
    if (run.folder in cache) continue;
    const loaded = loadEncoder(encoder(run.folder));
    const o = { size: 32, seed: Number(run.settings.seed), fraction: 0.01, draws: 3 };
    cache[run.folder] = summaryColumns(await scoreFeatures(`pytorch ${run.folder}`, encoderFeatures(loaded.encoder, 'pytorch', evalData, 32), o));
    loaded.encoder.dispose();
    writeFileSync(scored, `${JSON.stringify(cache, null, 2)}\n`);
  }
  evalData.dispose();
  const ours = summaries[name]!;
  torchRuns[name] = { ...ours, runs: ours.runs.map((r) => ({ ...r, scores: cache[r.folder]!, zScores: undefined })) };
}

// Verdicts, tables, charts.
// (every setting has 3 seeds: always with its spread)
const pm = (s: { mean: number; std: number }) => meanSpread(s, 3);
const matches = (g: SettingScores, want: Record<string, unknown>) => Object.entries(want).every(([k, v]) => g.settings[k] === v);
function verdict(f: Finding, groups: SettingScores[]) {
  const [b, w] = [groups.find((g) => matches(g, f.better)), groups.find((g) => matches(g, f.worse))];
  if (!b || !w) return null;
  const score = (g: SettingScores, on: 'h' | 'z' = 'h') => (on === 'z' ? g.z?.linear ?? null : g.h.linear);
  const [sb, sw] = [score(b, f.betterOn), score(w, f.worseOn)];
  if (sb === null || sw === null) return null;
  const gap = sb.mean - sw.mean;
  const spread = sb.std + sw.std;
  const result = gap > spread ? 'reproduced' : gap < -spread ? 'not reproduced' : 'not resolvable at this scale';
  return { claim: f.claim, result, better: sb, worse: sw, gap, spread, line: `${result}: ${f.claim} — ${pm(sb)}% against ${pm(sw)}% (gap ${(100 * gap).toFixed(2)} points, spread ${(100 * spread).toFixed(2)})` };
}
const results: Record<string, unknown> = {};
const markdown: string[] = [];
const chartsDir = option('--charts', '');
if (chartsDir) mkdirSync(chartsDir, { recursive: true });
for (const name of only) {
  const ours = settingScores(summaries[name]!);
  const torch = torchRuns[name] ? settingScores(torchRuns[name]!) : null;
  const findings = FINDINGS.filter((f) => f.sweep === name);
  const verdicts = { simclr: findings.map((f) => verdict(f, ours)).filter((v) => v !== null), pytorch: torch ? findings.map((f) => verdict(f, torch)).filter((v) => v !== null) : null };
  const baselines = Object.fromEntries(Object.keys(ours[0]!.baselines).map((b) => [b, meanStd(ours.flatMap((g) => (g.baselines[b] ? [g.baselines[b]!.linear.mean] : [])))]));
  results[name] = { settings: ours.map((g) => ({ settings: g.settings, seeds: g.seeds, h: g.h, z: g.z, pytorch: torch?.find((t) => t.label === g.label)?.h ?? null })), baselines, verdicts };
  const axis = summaries[name]!.axes.filter((a) => a !== 'seed').join(', ');
  const hasZ = ours.every((g) => g.z);
  markdown.push(
    `#### ${name}`,
    '',
    `| ${axis} | linear (h) | kNN (h) | linear, 1% (h) |${hasZ ? ' linear (z) |' : ''}${torch ? ' PyTorch linear (h) |' : ''}`,
    `|---|---|---|---|${hasZ ? '---|' : ''}${torch ? '---|' : ''}`,
    ...ours.map((g) => `| ${g.label} | ${pm(g.h.linear)} | ${pm(g.h.knn)} | ${pm(g.h.fewLabelLinear)} |${hasZ ? ` ${pm(g.z!.linear)} |` : ''}${torch ? ` ${pm(torch.find((t) => t.label === g.label)!.h.linear)} |` : ''}`),
    '',
    `Baselines (linear, all labels): ${Object.entries(baselines).map(([b, s]) => `${b} ${(100 * s.mean).toFixed(2)}%`).join(', ')}.`,
    '',
    ...verdicts.simclr.map((v) => `- simclr: ${v.line}`),
    ...(verdicts.pytorch ?? []).map((v) => `- PyTorch: ${v.line}`),
    '',
  );
  if (chartsDir) {
    const series: ChartSeries[] = [{ name: 'simclr h', mean: ours.map((g) => g.h.linear.mean), spread: ours.map((g) => g.h.linear.std) }];
    if (hasZ) series.push({ name: 'simclr z', mean: ours.map((g) => g.z!.linear.mean), spread: ours.map((g) => g.z!.linear.std) });
    if (torch) series.push({ name: 'PyTorch h', mean: ours.map((g) => torch.find((t) => t.label === g.label)!.h.linear.mean), spread: ours.map((g) => torch.find((t) => t.label === g.label)!.h.linear.std) });
    for (const [b, s] of Object.entries(baselines)) series.push({ name: b, mean: ours.map(() => s.mean), spread: ours.map(() => 0), dashed: true });
    writeFileSync(join(chartsDir, `${name}.svg`), `${settingChart({ title: `${name}: linear probe, all labels (mean ± sd, 3 seeds)`, xLabel: axis, categories: ours.map((g) => g.label), series })}\n`);
  }
}
const markdownFile = option('--markdown', '');
if (markdownFile) writeFileSync(markdownFile, `${markdown.join('\n')}\n`);
console.log(JSON.stringify({ bench: 'ablations', data: source === 'colour32' ? `${data} (colourised Fashion-MNIST, 10,000 training and 2,000 test images, 32 px)` : `${data} (CIFAR-10, ${perClass} training and ${testPerClass} test images per class, 32 px)`, metrics: Object.keys(SWEEP_METRICS), ablations: results }, null, 2));
