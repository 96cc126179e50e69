// The long fuzzing run: every reader of user files (fuzz/targets.ts) under Jazzer.js for a while
// each, from the committed seeds plus what earlier runs found (.cache/fuzz/corpus/<target>).
// Prints one JSON line per target (executions, seconds, coverage, findings) and exits 1 on any
// finding; a finding's input is under .cache/fuzz/findings/<target>/.
//
//   node dist/scripts/fuzz.js [--minutes 3] [--target safetensors,idx,...] [--jobs 1] [--seed 0]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jazzerLaunch, repoRoot } from '../fuzz/jazzer.js';
import { runTarget } from '../fuzz/run.js';
import { targets } from '../fuzz/targets.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    target: { type: 'string', multiple: true },
    jobs: { type: 'string', default: '1' },
    seed: { type: 'string', default: '0' },
    'rss-limit-mb': { type: 'string', default: '2048' },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`usage: node dist/scripts/fuzz.js [--minutes M] [--target NAME[,NAME…]] [--jobs N] [--seed S] [--rss-limit-mb MB] [--verbose]
targets:\n${targets.map((t) => `  ${t.name.padEnd(14)} ${t.reads}`).join('\n')}`);
  process.exit(0);
}
const minutes = Number(values.minutes);
const jobs = Number(values.jobs);
if (!(minutes > 0) || !(Number.isInteger(jobs) && jobs > 0)) {
  console.error('fuzz: --minutes must be positive and --jobs a positive integer');
  process.exit(2);
}
const names = (values.target ?? []).flatMap((t) => t.split(',')).filter((t) => t !== '');
const unknown = names.filter((n) => !targets.some((t) => t.name === n));
if (unknown.length > 0) {
  console.error(`fuzz: unknown target ${unknown.join(', ')} (targets: ${targets.map((t) => t.name).join(', ')})`);
  process.exit(2);
}
const chosen = names.length === 0 ? targets : targets.filter((t) => names.includes(t.name));
console.error(`fuzz: Jazzer.js with ${jazzerLaunch().note}; ${chosen.length} target(s), ${minutes} min each, ${jobs} at a time`);

const queue = [...chosen];
let findings = 0;
await Promise.all(
  Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
      const work = join(repoRoot, '.cache', 'fuzz');
      const result = await runTarget(t, {
        seconds: minutes * 60,
        seed: Number(values.seed),
        corpusDir: join(work, 'corpus', t.name),
        findingsDir: join(work, 'findings', t.name),
        rssLimitMb: Number(values['rss-limit-mb']),
        onLine: values.verbose ? (line) => console.error(`[${t.name}] ${line}`) : undefined,
      });
      findings += result.findings.length;
      console.log(JSON.stringify({ ...result, minutes: Math.round((result.seconds / 60) * 100) / 100 }));
    }
  }),
);
process.exitCode = findings > 0 ? 1 : 0;
