// How long a command stays silent on a terminal: runs it under util-linux's `script` (a pseudo-
// terminal, so that progress is drawn live as a user would see it) with output timing, and
// reports the longest gap between two writes, where it happened (the text around it), and the
// command's own output.
//   node dist/bench/silence.js [--out dir] -- <command> [args…]
// e.g. node dist/bench/silence.js -- node dist/src/cli/main.js quickstart
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './common.js';

const dash = process.argv.indexOf('--');
if (dash < 0 || dash === process.argv.length - 1) throw new Error('usage: node dist/bench/silence.js [--out dir] -- <command> [args…]');
const command = process.argv.slice(dash + 1);
const outIndex = process.argv.indexOf('--out');
const dir = outIndex > 0 && outIndex < dash ? process.argv[outIndex + 1]! : join(repoRoot, 'runs', 'silence');
mkdirSync(dir, { recursive: true });
const log = join(dir, 'terminal.log');
const timing = join(dir, 'timing.log');
const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
const began = Date.now();
const r = spawnSync('script', ['--quiet', '--return', '--log-out', log, '--log-timing', timing, '--command', quoted], { stdio: ['ignore', 'inherit', 'inherit'] });
const seconds = (Date.now() - began) / 1000;
if (r.error) throw r.error;

// The classic timing format: one line per write, "<seconds since the previous write> <bytes>".
const writes = readFileSync(timing, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]);
const text = readFileSync(log, 'latin1');
const start = text.indexOf('\n') + 1; // after script's own header line
let offset = start;
let longest = { gap: 0, at: 0, elapsed: 0 };
let elapsed = 0;
for (const [delay, bytes] of writes) {
  elapsed += delay;
  if (delay > longest.gap) longest = { gap: delay, at: offset, elapsed };
  offset += bytes;
}
const around = (at: number) => {
  const lines = text.slice(Math.max(start, at - 400), at).split(/[\r\n]/).filter((l) => l.trim() !== '');
  return lines.at(-1)?.replace(/\x1b\[K/g, '') ?? '';
};
console.log(
  JSON.stringify(
    {
      bench: 'silence',
      command: command.join(' '),
      exitCode: r.status,
      seconds: Math.round(seconds),
      writes: writes.length,
      longestSilenceSeconds: +longest.gap.toFixed(2),
      silentAfterSeconds: Math.round(longest.elapsed - longest.gap),
      lastOutputBeforeIt: around(longest.at),
      terminalLog: log,
    },
    null,
    2,
  ),
);
