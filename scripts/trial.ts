// The hardening trial (#12), rerunnable: the CLI given broken files, misuse and faults as a new user
// would, each case with a time limit. A case passes when it ends as it should: a refusal exits 1
// with one clear message naming what is wrong (2 for a misused flag, as usage errors do; no stack
// trace, no signal), a tolerated fault exits 0,
// and nothing already written is lost. Prints one JSON line per case, then a summary.
//   node dist/scripts/trial.js [--keep]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'simclr-trial-'));
const tiny = ['--epochs', '1', '--batch-size', '8', '--width', '0.125', '--knn-every', '0', '--report', 'false', '--threads', '1', '--quiet'];

interface Ended {
  code: number | null;
  signal: string | null;
  stderr: string;
  stdout: string;
  seconds: number;
  hung: boolean;
}

/** Runs the CLI; a run past `limitS` is killed and counts as a hang. `started` sees the child. */
function simclr(args: string[], limitS = 120, started?: (pid: number) => void): Promise<Ended> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: join(root, 'cache') } });
    started?.(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let hung = false;
    const timer = setTimeout(() => ((hung = true), child.kill('SIGKILL')), limitS * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout, seconds: (performance.now() - t0) / 1000, hung });
    });
  });
}

interface Outcome {
  case: string;
  pass: boolean;
  why: string;
  seconds: number;
}
const outcomes: Outcome[] = [];

function record(name: string, run: Ended, problem: string | null): void {
  const o = { case: name, pass: problem === null, why: problem ?? lastLine(run), seconds: Number(run.seconds.toFixed(2)) };
  outcomes.push(o);
  console.log(JSON.stringify(o));
}

function lastLine(run: Ended): string {
  return (run.stderr.trim().split('\n').pop() ?? '').slice(0, 240);
}

/** A refusal: exit `code`, a message matching `says`, no stack trace. */
async function refused(name: string, args: string[], says: RegExp, limitS = 120, code = 1): Promise<Ended> {
  const run = await simclr(args, limitS);
  let problem: string | null = null;
  if (run.hung) problem = `hang: killed after ${limitS} s`;
  else if (run.signal !== null) problem = `crash: ${run.signal}`;
  else if (run.code === 0) problem = 'silently accepted (exit 0)';
  else if (run.code !== code) problem = `exit ${run.code}`;
  else if (/^\s+at /m.test(run.stderr)) problem = `stack trace: ${lastLine(run)}`;
  else if (!says.test(run.stderr)) problem = `unclear message: ${lastLine(run)}`;
  record(name, run, problem);
  return run;
}

/** A run that must succeed; `check` may name a problem with what it wrote. */
async function succeeds(name: string, args: string[], check: (run: Ended) => string | null = () => null, limitS = 300): Promise<Ended> {
  const run = await simclr(args, limitS);
  let problem: string | null = null;
  if (run.hung) problem = `hang: killed after ${limitS} s`;
  else if (run.code !== 0) problem = `exit ${run.code ?? run.signal}: ${lastLine(run)}`;
  else problem = check(run);
  record(name, run, problem);
  return run;
}

// --- fixtures ---------------------------------------------------------------------------------

/** A labelled folder of small PNGs, two classes. */
async function imageFolder(dir: string, perClass = 12): Promise<void> {
  for (const cls of ['circle', 'square']) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = Buffer.alloc(32 * 32 * 3);
      for (let p = 0; p < 32 * 32; p++) pixels.set([(i * 20 + p) % 256, cls === 'circle' ? 200 : 40, (p * 7) % 256], p * 3);
      await sharp(pixels, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, cls, `${i}.png`));
    }
  }
}

function idx(file: string, dims: number[], data: Uint8Array): void {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  writeFileSync(file, Buffer.concat([header, data]));
}

/** safetensors bytes from a header object and a data section. */
function safetensorsBytes(header: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.from(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** The header of a safetensors file and its data section. */
function splitSafetensors(file: string): { header: Record<string, unknown>; data: Buffer } {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString()), data: bytes.subarray(8 + n) };
}

const images = join(root, 'images');
await imageFolder(images);
const run = join(root, 'run');

// --- run folders ------------------------------------------------------------------------------

await succeeds('a first run', ['pretrain', '--data', images, '--out', run, ...tiny]);
const config = readFileSync(join(run, 'config.json'), 'utf8');
await refused('a fresh run into a folder holding a run', ['pretrain', '--data', images, '--out', run, ...tiny], /--resume|--overwrite/);
if (readFileSync(join(run, 'config.json'), 'utf8') !== config) record('the refused run left the folder as it was', { code: 0, signal: null, stderr: '', stdout: '', seconds: 0, hung: false }, 'config.json changed');

{
  // Two runs on one folder at once: the second is refused while the first owns it.
  const shared = join(root, 'shared');
  let firstPid = 0;
  const long = [...tiny, '--epochs', '100000'];
  const first = simclr(['pretrain', '--data', images, '--out', shared, ...long], 300, (pid) => (firstPid = pid));
  while (!existsSync(join(shared, 'run.lock'))) await new Promise((r) => setTimeout(r, 100));
  await refused('a second pretrain on the same --out', ['pretrain', '--data', images, '--out', shared, ...tiny, '--overwrite'], new RegExp(`${shared}.*${firstPid}|${firstPid}.*${shared}`));
  // Killed mid-run (SIGKILL, no clean-up) once it has checkpoints, then resumed: the stale lock is
  // taken over, and the log continues from the checkpoint without repeating steps.
  const checkpointDir = join(shared, 'checkpoints');
  while (!existsSync(checkpointDir) || readdirSync(checkpointDir).length < 2) await new Promise((r) => setTimeout(r, 100));
  process.kill(firstPid, 'SIGKILL');
  await first;
  const epochs = readFileSync(join(shared, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"epoch"')).length;
  await succeeds('--resume after SIGKILL (stale lock, temporary files)', ['pretrain', '--data', images, '--out', shared, ...long, '--stop-epoch', String(epochs + 3), '--resume', 'true'], () => {
    const steps = readFileSync(join(shared, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; globalStep: number }).filter((m) => m.type === 'step').map((m) => m.globalStep);
    if (new Set(steps).size !== steps.length) return 'metrics.jsonl repeats step records';
    if (readdirSync(join(shared, 'checkpoints')).some((f) => f.endsWith('.tmp'))) return 'temporary files left';
    return null;
  });
}
await refused('--out in /proc', ['pretrain', '--data', images, '--out', '/proc/x/run', ...tiny], /\/proc\/x/, 30);
writeFileSync(join(root, 'a-file'), 'x');
await refused('--out under a file', ['pretrain', '--data', images, '--out', join(root, 'a-file', 'run'), ...tiny], /a-file/, 30);

// --- bad data ---------------------------------------------------------------------------------

const broken = join(root, 'broken');
await imageFolder(broken);
writeFileSync(join(broken, 'circle', 'corrupt.png'), Buffer.from('not a png at all'));
symlinkSync(join(root, 'nowhere.png'), join(broken, 'square', 'dangling.png'));
await refused('a corrupt image', ['pretrain', '--data', broken, '--out', join(root, 'r-corrupt'), ...tiny], /corrupt\.png|dangling\.png/);
await succeeds('a corrupt image and a dangling symlink with --skip-bad true', ['pretrain', '--data', broken, '--out', join(root, 'r-skip'), ...tiny, '--skip-bad', 'true'], (r) =>
  /skipp\w* 2\b|2 (bad|unreadable)/i.test(r.stderr + r.stdout) ? null : `skipped count not reported: ${lastLine(r)}`,
);

const cifar = join(root, 'cifar');
mkdirSync(cifar);
for (const name of [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin')) {
  const records = Buffer.alloc(4 * 3073);
  for (let r = 0; r < 4; r++) records[r * 3073] = r % 10;
  if (name === 'data_batch_3.bin') records[2 * 3073] = 200;
  writeFileSync(join(cifar, name), records);
}
await refused('a CIFAR-10 label outside its classes', ['pretrain', '--data', cifar, '--out', join(root, 'r-cifar'), ...tiny], /data_batch_3\.bin.*record 2/);
await refused('the same in eval', ['eval', '--data', cifar, '--baseline', 'pixels', '--threads', '1'], /data_batch_3\.bin.*record 2/);

const idxDir = join(root, 'idx');
mkdirSync(idxDir);
idx(join(idxDir, 'train-images-idx3-ubyte'), [16, 8, 8], new Uint8Array(16 * 64).fill(7));
idx(join(idxDir, 'train-labels-idx1-ubyte'), [16], Uint8Array.from({ length: 16 }, (_, i) => i % 2));
idx(join(idxDir, 't10k-images-idx3-ubyte'), [4, 8, 8], new Uint8Array(4 * 64).fill(9));
idx(join(idxDir, 't10k-labels-idx1-ubyte'), [4], Uint8Array.from([0, 1, 12, 0]));
await refused('an IDX test label the training split lacks', ['eval', '--data', join(idxDir, 'train-images-idx3-ubyte'), '--baseline', 'pixels', '--threads', '1'], /t10k-images-idx3-ubyte.*label 12/);

// --- flags ------------------------------------------------------------------------------------

await refused('an unknown flag', ['pretrain', '--epoch', '3'], /--epoch\b/, 30, 2);
await refused('a number flag given text', ['pretrain', '--lr', 'fast'], /--lr/, 30, 2);
await refused('a negative epoch count', ['pretrain', '--data', images, '--out', join(root, 'r-neg'), ...tiny, '--epochs', '-1'], /--epochs/, 30, 2);
await refused('a batch of one image (NT-Xent needs two)', ['pretrain', '--data', images, '--out', join(root, 'r-one'), ...tiny, '--batch-size', '1'], /at least 2 images/, 60);
await refused('a data set that does not exist', ['pretrain', '--data', join(root, 'missing'), '--out', join(root, 'r-missing'), ...tiny], /missing/, 30);
await refused('--resume false into a folder holding a run', ['pretrain', '--data', images, '--out', run, ...tiny, '--resume', 'false'], /--resume|--overwrite/);

// --- photos (#28) -------------------------------------------------------------------------------

{
  // Photos of another size than the view: the recipe chosen from them; an unlabelled folder; a decode
  // cache that does not add up; flags of the recipe given wrong.
  const photos = join(root, 'photos');
  for (const cls of ['red', 'blue']) {
    mkdirSync(join(photos, cls), { recursive: true });
    for (let i = 0; i < 8; i++) {
      const colour = cls === 'red' ? { r: 200, g: 40 + 10 * i, b: 30 } : { r: 30, g: 40 + 10 * i, b: 200 };
      await sharp({ create: { width: 160 + 8 * i, height: 120, channels: 3, background: colour } }).jpeg().toFile(join(photos, cls, `${i}.jpg`));
    }
  }
  const quick = ['--epochs', '1', '--batch-size', '8', '--width', '0.125', '--threads', '1', '--quiet', '--draws', '2'];
  await succeeds('quickstart on a labelled photo folder: the photo recipe, the table and its verdict', ['quickstart', '--data', photos, '--out', join(root, 'q-photos'), ...quick], (r) =>
    /recipe: photo — 96 px views, ImageNet stem/.test(r.stdout) && /verdict|beats|behind/i.test(r.stdout) ? null : `no recipe line or verdict: ${lastLine(r)}`,
  );
  const flat = join(root, 'flat-photos');
  mkdirSync(flat);
  for (const f of readdirSync(join(photos, 'red'))) writeFileSync(join(flat, f), readFileSync(join(photos, 'red', f)));
  await succeeds('quickstart on an unlabelled folder: pretraining and the report, and why no table', ['quickstart', '--data', flat, '--out', join(root, 'q-flat'), ...quick], (r) =>
    /no accuracy table: .*no class subfolders/.test(r.stdout) && existsSync(join(root, 'q-flat', 'report.html')) ? null : `no reason given or no report: ${lastLine(r)}`,
  );
  await refused('an unknown --recipe', ['pretrain', '--data', photos, '--recipe', 'mnist'], /--recipe/, 30, 2);
  await refused('--source-scale below 1', ['pretrain', '--data', photos, '--source-scale', '0.5'], /--source-scale/, 30, 2);
  // The decode cache of those photos, its frame table cut short: read as unreadable, decoded again.
  const cacheDir = join(root, 'cache', 'simclr');
  for (const f of readdirSync(cacheDir).filter((f) => f.endsWith('.safetensors'))) {
    const cached = splitSafetensors(join(cacheDir, f));
    const sizes = cached.header.sizes as { shape: number[] } | undefined;
    if (sizes === undefined) continue;
    writeFileSync(join(cacheDir, f), safetensorsBytes(JSON.stringify({ ...cached.header, sizes: { ...sizes, shape: [sizes.shape[0]! - 1, 2], data_offsets: (cached.header.sizes as { data_offsets: number[] }).data_offsets } }), cached.data));
  }
  await succeeds('a decode cache whose frames do not add up: warned, decoded again', ['pretrain', '--data', photos, '--out', join(root, 'r-cache'), ...tiny], (r) =>
    /ignoring the unreadable decode cache/.test(r.stderr) ? null : 'no warning about the cache',
  );
  const unreadable = join(root, 'unreadable-photos');
  mkdirSync(unreadable);
  for (let i = 0; i < 3; i++) writeFileSync(join(unreadable, `${i}.jpg`), Buffer.from('not a jpeg'));
  await refused('a folder none of whose images can be read', ['pretrain', '--data', unreadable, '--out', join(root, 'r-unreadable'), ...tiny], /unreadable-photos/, 30);
}

// --- checkpoints and encoder files --------------------------------------------------------------

const encoder = join(run, 'encoder.safetensors');
const { header, data } = splitSafetensors(encoder);
const evalOf = (file: string) => ['eval', '--checkpoint', file, '--data', images, '--threads', '1'];
const bad = (name: string, bytes: Buffer) => {
  const file = join(root, name);
  writeFileSync(file, bytes);
  return file;
};
await refused('an encoder file cut short', evalOf(bad('cut.safetensors', readFileSync(encoder).subarray(0, 1000))), /cut\.safetensors/);
const [first, second] = Object.keys(header).filter((k) => k !== '__metadata__');
const duplicated = JSON.stringify(header).replace(`"${second}":`, `"${first}":`);
await refused('duplicate tensor names in a header', evalOf(bad('dup.safetensors', safetensorsBytes(duplicated, data))), /dup\.safetensors.*twice/);
await refused('a shape whose size overflows', evalOf(bad('huge.safetensors', safetensorsBytes(JSON.stringify({ x: { dtype: 'F32', shape: [0, 2 ** 53 - 1, 2 ** 53 - 1], data_offsets: [0, 0] } })))), /huge\.safetensors/);
const metadata = header.__metadata__ as Record<string, string>;
const wide = { ...header, __metadata__: { ...metadata, width: '1000' } };
await refused('an encoder claiming width 1000', evalOf(bad('wide.safetensors', safetensorsBytes(JSON.stringify(wide), data))), /wide\.safetensors/, 60);
await refused('a file that is not safetensors', evalOf(bad('text.safetensors', Buffer.from('hello'))), /text\.safetensors/);
const checkpoints = readdirSync(join(run, 'checkpoints')).filter((f) => f.endsWith('.safetensors'));
const ckpt = splitSafetensors(join(run, 'checkpoints', checkpoints[0]!));
const ckptMeta = ckpt.header.__metadata__ as Record<string, string>;
const notJson = { ...ckpt.header, __metadata__: Object.fromEntries(Object.entries(ckptMeta).map(([k, v]) => [k, k === 'config' ? '{not json' : v])) };
await refused('a checkpoint whose config is not JSON', evalOf(bad('config.safetensors', safetensorsBytes(JSON.stringify(notJson), ckpt.data))), /config\.safetensors/);

const failed = outcomes.filter((o) => !o.pass);
console.log(JSON.stringify({ cases: outcomes.length, passed: outcomes.length - failed.length, failed: failed.map((o) => o.case), folder: process.argv.includes('--keep') ? root : null }));
if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
process.exitCode = failed.length === 0 ? 0 : 1;
