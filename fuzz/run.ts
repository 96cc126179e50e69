// Runs one fuzz target under Jazzer.js (libFuzzer) for a while and reads its figures: executions,
// coverage (libFuzzer's "cov", the instrumented edges of src/ reached, and "ft", its features:
// edges with hit counts and compared values), the corpus, and any finding with the input saved.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jazzerLaunch, repoRoot } from './jazzer.js';
import type { FuzzTarget } from './targets.js';

/** Options of {@link runTarget}. */
export interface RunOptions {
  /** How long to fuzz (libFuzzer's -max_total_time), in seconds. */
  seconds: number;
  /** libFuzzer's seed (0: a random one). */
  seed?: number;
  /** Where new inputs go (libFuzzer's first corpus folder; the committed seeds are read, never written). */
  corpusDir: string;
  /** Where a finding's input is written. */
  findingsDir: string;
  /** Memory bound: a run whose resident memory passes this many MiB is a finding (out-of-memory). */
  rssLimitMb?: number;
  /** Time bound on one input, in milliseconds: a slower one is a finding (a hang). */
  timeoutMs?: number;
  /** Receives each line the fuzzer prints. */
  onLine?: (line: string) => void;
}

/** One finding of a run. */
export interface Finding {
  /** exception (anything but the project's refusal), timeout, out-of-memory, crash (a signal), or error (the run failed otherwise). */
  kind: 'exception' | 'timeout' | 'out-of-memory' | 'crash' | 'error';
  /** What the fuzzer said. */
  message: string;
  /** The input that caused it, saved by libFuzzer (null when none was). */
  input: string | null;
}

/** The figures of one run. */
export interface RunResult {
  target: string;
  executions: number;
  seconds: number;
  execPerSecond: number;
  /** libFuzzer's coverage counts at the end: edges of src/ reached (cov) and features (ft). */
  coverage: { edges: number; features: number };
  /** The corpus at the end: inputs and their total bytes. */
  corpus: { inputs: number; bytes: number };
  /** Inputs the run added to the corpus. */
  newInputs: number;
  peakRssMb: number;
  findings: Finding[];
  exitCode: number | null;
}

const SEEDS = join(repoRoot, 'fuzz', 'corpus');

const unitBytes = (n: string, unit: string) => Number(n) * (unit === 'Kb' ? 1024 : unit === 'Mb' ? 2 ** 20 : 1);

/** Fuzzes `target` for `o.seconds`, from its committed seeds (fuzz/corpus/<name>) and `o.corpusDir`. */
export async function runTarget(target: FuzzTarget, o: RunOptions): Promise<RunResult> {
  const launch = jazzerLaunch();
  mkdirSync(o.corpusDir, { recursive: true });
  mkdirSync(o.findingsDir, { recursive: true });
  const seeds = join(SEEDS, target.name);
  const scratch = mkdtempSync(join(tmpdir(), `simclr-fuzz-${target.name}-`));
  const args = [
    ...launch.nodeArgs,
    launch.cli,
    join(repoRoot, 'dist', `${target.module ?? `fuzz/targets/${target.name}`}.js`),
    o.corpusDir,
    ...(existsSync(seeds) ? [seeds] : []),
    ...(target.sync ? ['--sync'] : []),
    // (coverage of the reader's own modules guides it: instrumenting all of src/ takes seconds at
    // every start and adds the tensor library's paths, which the readers do not steer)
    ...target.instrument.flatMap((m) => ['--includes', join(repoRoot, 'dist', 'src', `${m}.js`)]),
    '--excludes', 'node_modules',
    // (Jazzer.js's bug detectors: prototype pollution stays on, for the JSON and YAML readers; the
    // command-injection and path-traversal ones watch child processes and paths, which no reader
    // takes from its input, and cost seconds at every start)
    '--disableBugDetectors', 'command-injection|path-traversal',
    '--timeout', String(o.timeoutMs ?? 10_000),
    '--',
    `-max_total_time=${Math.max(1, Math.round(o.seconds))}`,
    `-seed=${o.seed ?? 0}`,
    `-max_len=${target.maxLen}`,
    `-rss_limit_mb=${o.rssLimitMb ?? 2048}`,
    `-artifact_prefix=${o.findingsDir}/`,
    '-print_final_stats=1',
  ];
  const started = Date.now();
  // (one libtorch thread: the readers do no heavy arithmetic, and a pool's spinning threads slow
  // the start of runs side by side)
  const lines: string[] = [];
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...launch.env, SIMCLR_FUZZ_TMP: scratch, SIMCLR_THREADS: '1', OMP_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    const take = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        o.onLine?.(line);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) => {
      if (pending) lines.push(pending);
      resolve(code);
    });
  });
  rmSync(scratch, { recursive: true, force: true });
  return parseRun(target.name, lines, exitCode, (Date.now() - started) / 1000);
}

/** The figures and findings in a run's output. */
export function parseRun(name: string, lines: readonly string[], exitCode: number | null, wallSeconds: number): RunResult {
  const stat = (key: string) => {
    const line = lines.find((l) => l.startsWith(`stat::${key}:`));
    return line === undefined ? null : Number(line.slice(line.indexOf(':', 6) + 1));
  };
  let executions = 0;
  let edges = 0;
  let features = 0;
  let inputs = 0;
  let bytes = 0;
  for (const line of lines) {
    const m = /^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+) corp: (\d+)\/(\d+)(b|Kb|Mb)/.exec(line);
    if (m === null) continue;
    executions = Number(m[1]);
    [edges, features, inputs, bytes] = [Number(m[2]), Number(m[3]), Number(m[4]), unitBytes(m[5]!, m[6]!)];
  }
  executions = stat('number_of_executed_units') ?? executions;
  const done = lines.map((l) => /^Done (\d+) runs in (\d+) second/.exec(l)).find((m) => m !== null);
  const seconds = done ? Number(done[2]) : wallSeconds;
  const findings: Finding[] = [];
  const inputs_ = lines.flatMap((l) => /Test unit written to (\S+)/.exec(l)?.[1] ?? []);
  const input = inputs_.at(-1) ?? null;
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const exception = at(/== Uncaught Exception: /);
  if (exception >= 0) {
    findings.push({ kind: 'exception', message: lines.slice(exception, exception + 8).join('\n').replace(/^==\d+== Uncaught Exception: /, ''), input });
  } else if (at(/ERROR: libFuzzer: out-of-memory|==\d+== ERROR: libFuzzer: out-of-memory/) >= 0) {
    findings.push({ kind: 'out-of-memory', message: lines[at(/out-of-memory/)]!, input });
  } else if (at(/ERROR: libFuzzer: timeout|ALARM: working on the last Unit|Timeout|timeout after/) >= 0) {
    findings.push({ kind: 'timeout', message: lines[at(/ERROR: libFuzzer: timeout|ALARM: working on the last Unit|Timeout|timeout after/)]!, input });
  } else if (at(/deadly signal|Segmentation fault|SIGSEGV|SIGABRT|Aborted/) >= 0) {
    findings.push({ kind: 'crash', message: lines[at(/deadly signal|Segmentation fault|SIGSEGV|SIGABRT|Aborted/)]!, input });
  } else if (exitCode !== 0) {
    findings.push({ kind: 'error', message: `exit ${exitCode}: ${lines.slice(-12).join('\n')}`, input });
  }
  return {
    target: name,
    executions,
    seconds,
    execPerSecond: stat('average_exec_per_sec') ?? (seconds > 0 ? Math.round(executions / seconds) : 0),
    coverage: { edges, features },
    corpus: { inputs, bytes },
    newInputs: stat('new_units_added') ?? 0,
    peakRssMb: stat('peak_rss_mb') ?? 0,
    findings,
    exitCode,
  };
}
