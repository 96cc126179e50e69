// The hardening trial (#12), rerunnable: the CLI given broken files, misuse and faults as a new user
// would, each case with a time limit. A case passes when it ends as it should: a refusal exits 1
// with one clear message naming what is wrong (2 for a misused flag, as usage errors do; no stack
// trace, no signal), a tolerated fault exits 0,
// and nothing already written is lost. Every command is tried (#30): its bad inputs of each kind,
// bad flag combinations, a SIGKILL halfway through each writer (injected by a preloaded module that
// kills the process in the middle of writing the named file: the previous file must be intact, or
// no file at all, and the next run must succeed over the temporary files left behind), and two
// writers on one output at once (each succeeds or refuses clearly; the output ends complete).
// Prints one JSON line per case, then a summary with the count of cases and passes.
//   node dist/scripts/trial.js [--keep]
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import onnxProto from 'onnx-proto';
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

// Faults injected into the CLI's process (loaded with --import when a case asks for one):
// SIMCLR_TRIAL_KILL=<name>: SIGKILL halfway through the first write of a file whose path contains <name>;
// SIMCLR_TRIAL_SLOW=<name>: wait SIMCLR_TRIAL_SLOW_MS before opening such a file for writing.
const faults = join(root, 'faults.mjs');
writeFileSync(
  faults,
  `import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const kill = process.env.SIMCLR_TRIAL_KILL || null;
const slow = process.env.SIMCLR_TRIAL_SLOW || null;
const pauseMs = Number(process.env.SIMCLR_TRIAL_SLOW_MS || 300);
const hits = (path, name) => name !== null && String(path).includes(name);
const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
const die = () => process.kill(process.pid, 'SIGKILL');
const writing = (flags) => (typeof flags === 'string' ? /[wa+]/.test(flags) : typeof flags === 'number' && (flags & 3) !== 0);
const { openSync, writeSync, writeFileSync, copyFileSync } = fs;
const doomed = new Set();
fs.openSync = function (path, flags, ...rest) {
  if (writing(flags) && hits(path, slow)) pause();
  const fd = openSync.call(fs, path, flags, ...rest);
  if (writing(flags) && hits(path, kill)) doomed.add(fd);
  return fd;
};
fs.writeSync = function (fd, data, ...rest) {
  if (doomed.has(fd)) {
    const bytes = ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset + (rest[0] ?? 0), rest[1] ?? data.byteLength - (rest[0] ?? 0)) : Buffer.from(String(data));
    writeSync.call(fs, fd, bytes, 0, bytes.length >> 1);
    die();
  }
  return writeSync.call(fs, fd, data, ...rest);
};
fs.writeFileSync = function (path, data, ...rest) {
  if (typeof path !== 'number' && hits(path, kill)) {
    const fd = openSync.call(fs, path, 'w');
    const bytes = Buffer.from(data);
    writeSync.call(fs, fd, bytes, 0, bytes.length >> 1);
    die();
  }
  if (typeof path !== 'number' && hits(path, slow)) pause();
  return writeFileSync.call(fs, path, data, ...rest);
};
fs.copyFileSync = function (from, to, ...rest) {
  if (hits(to, slow)) pause();
  if (hits(to, kill)) {
    const bytes = fs.readFileSync(from);
    const fd = openSync.call(fs, to, 'w');
    writeSync.call(fs, fd, bytes, 0, bytes.length >> 1);
    die();
  }
  return copyFileSync.call(fs, from, to, ...rest);
};
syncBuiltinESMExports();
`,
);

/** Cases started together (Promise.all) run two at a time. */
const PARALLEL = 2;
let running = 0;
const queue: (() => void)[] = [];
async function slot<T>(f: () => Promise<T>): Promise<T> {
  while (running >= PARALLEL) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await f();
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** Runs the CLI; a run past `limitS` is killed and counts as a hang. `started` sees the child; `fault` sets the faults above. */
function simclr(args: string[], limitS = 120, started?: (pid: number) => void, fault?: Record<string, string>): Promise<Ended> {
  return slot(() => new Promise((resolve) => {
    const t0 = performance.now();
    const preload = fault === undefined ? [] : ['--import', pathToFileURL(faults).href];
    const child = spawn(process.execPath, [...preload, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: join(root, 'cache'), ...fault } });
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
  }));
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
  // Continued pretraining: from the first run (recorded in config.json), and the starts that cannot work.
  const continued = join(root, 'run-continued');
  await succeeds('pretrain --init: from a run folder', ['pretrain', '--data', images, '--out', continued, '--init', run, ...tiny], () => {
    const c = JSON.parse(readFileSync(join(continued, 'config.json'), 'utf8')) as { initFrom?: { sha256?: string } };
    return typeof c.initFrom?.sha256 === 'string' ? null : 'config.json records no initFrom';
  });
  const torchvision = fileURLToPath(new URL('../../test/fixtures/torchvision_r18_w0125.safetensors', import.meta.url));
  await Promise.all([
    refused('pretrain --init: torchvision weights with an fc', ['pretrain', '--data', images, '--out', join(root, 'init-fc'), '--init', torchvision, '--cifar-stem', 'true', ...tiny], /torchvision_r18_w0125\.safetensors: does not fit the encoder being trained \(unexpected fc\.weight, fc\.bias\)/, 60),
    refused('pretrain --init: weights of another width', ['pretrain', '--data', images, '--out', join(root, 'init-width'), '--init', torchvision, ...tiny, '--width', '0.25'], /of another shape conv1\.weight/, 60),
    refused('pretrain --init: a path that does not exist', ['pretrain', '--data', images, '--out', join(root, 'init-missing'), '--init', join(root, 'no-such-run'), ...tiny], /no-such-run: no such run folder/, 60),
    refused('pretrain --init-head without --init', ['pretrain', '--data', images, '--out', join(root, 'init-head'), '--init-head', ...tiny], /--init-head and --init-partial go with --init/, 60),
  ]);
  // Transfer: both runs on their data (held out) and on gray IDX images (conv1 adapted), and the inputs it refuses.
  const gray = join(root, 'transfer-gray');
  mkdirSync(gray, { recursive: true });
  idx(join(gray, 'train-images-idx3-ubyte'), [24, 8, 8], Uint8Array.from({ length: 24 * 64 }, (_, i) => ((i >> 6) % 2) * 100 + ((i * 37) % 101)));
  idx(join(gray, 'train-labels-idx1-ubyte'), [24], Uint8Array.from({ length: 24 }, (_, i) => i % 2));
  const unlabelled = join(root, 'unlabelled-transfer');
  mkdirSync(unlabelled, { recursive: true });
  for (const i of [0, 1, 2, 3]) cpSync(join(images, 'circle', `${i}.png`), join(unlabelled, `${i}.png`));
  // (into the first run's folder, its default: the run's report then shows the tables)
  const transferOut = join(run, 'transfer');
  await succeeds('transfer: two runs on their folder and on gray IDX images', ['transfer', run, continued, '--data', `${images},${join(gray, 'train-images-idx3-ubyte')}`, '--label-fraction', '0.25', '--draws', '2', '--test-fraction', '0.25', '--threads', '1', '--quiet'], () => {
    const t = JSON.parse(readFileSync(join(transferOut, 'transfer.json'), 'utf8')) as { tables?: { rows: { role: string }[] }[] };
    const roles = t.tables?.map((table) => table.rows.map((r) => r.role).join(',')).join(' / ');
    return roles === 'from scratch,continued,random-init encoder,raw pixels / transferred,transferred,random-init encoder,raw pixels' && existsSync(join(transferOut, 'report.html')) ? null : `roles ${roles}`;
  });
  const runReport = join(root, 'run-with-transfer.html');
  await succeeds('report: a run folder with a transfer evaluation shows its tables', ['report', run, '--out', runReport, '--quiet'], () => (/<h2>Transfer \(simclr transfer, /.test(readFileSync(runReport, 'utf8')) ? null : 'no Transfer section'));
  await Promise.all([
    refused('transfer: a data set that does not exist', ['transfer', run, '--data', `${images},${join(root, 'no-such-data')}`, '--out', join(root, 'transfer-missing')], /no-such-data: no such data/, 60),
    refused('transfer: no encoder named', ['transfer', '--data', images], /name one or more encoders/, 60, 2),
    refused('transfer: unlabelled data', ['transfer', run, '--data', join(root, 'unlabelled-transfer')], /unlabelled-transfer/, 60),
  ]);
}

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

// --- every command (#30): helpers -----------------------------------------------------------------

const quietly = ['--quiet'];
/** A problem with a safetensors file's completeness (header, data section of the stated size), or null. */
function safetensorsProblem(file: string, format?: string): string | null {
  if (!existsSync(file)) return `${file} is missing`;
  try {
    const { header, data } = splitSafetensors(file);
    const ends = Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => (v as { data_offsets: number[] }).data_offsets[1]!);
    if (Math.max(0, ...ends) !== data.length) return `${file}: its data section has ${data.length} bytes, its header ${Math.max(0, ...ends)}`;
    if (format !== undefined && (header.__metadata__ as Record<string, string> | undefined)?.format !== format) return `${file} is not a ${format}`;
    return null;
  } catch (e) {
    return `${file} is torn: ${(e as Error).message}`;
  }
}
/** The ONNX model in `file` (decoded), or a problem. */
function onnxModel(file: string): onnxProto.onnx.ModelProto | string {
  if (!existsSync(file)) return `${file} is missing`;
  try {
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(file));
    return (model.graph?.node?.length ?? 0) > 0 && (model.graph?.initializer?.length ?? 0) > 0 ? model : `${file} has no graph`;
  } catch (e) {
    return `${file} does not decode as ONNX: ${(e as Error).message}`;
  }
}
const onnxProblem = (file: string) => (typeof onnxModel(file) === 'string' ? (onnxModel(file) as string) : null);
const onnxFingerprint = (file: string) => {
  const model = onnxModel(file);
  return typeof model === 'string' ? null : (model.metadataProps.find((p) => p.key === 'fingerprint')?.value ?? null);
};
const reportProblem = (file: string) => {
  if (!existsSync(file)) return `${file} is missing`;
  const html = readFileSync(file, 'utf8');
  return html.endsWith('</html>\n') && html.includes('id="report-data"') ? null : `${file} is torn (${html.length} characters)`;
};
const jsonProblem = (file: string) => {
  if (!existsSync(file)) return `${file} is missing`;
  try {
    JSON.parse(readFileSync(file, 'utf8'));
    return null;
  } catch {
    return `${file} is torn`;
  }
};
const WEB_FILES = ['index.html', 'encoder.onnx', 'index.json', 'vectors.bin', 'thumbnails.jpg', 'ort/ort.wasm.min.mjs', 'ort/ort-wasm-simd-threaded.mjs', 'ort/ort-wasm-simd-threaded.wasm'];
/** A problem with a demo folder: every file there, index.json's encoder the one in encoder.onnx, vectors.bin the vectors of the index with that fingerprint. */
function webProblem(dir: string, indexes: string[]): string | null {
  const missing = WEB_FILES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) return `${dir} lacks ${missing.join(', ')}`;
  let meta: { count: number; dim: number; fingerprint: string };
  try {
    meta = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  } catch {
    return `${dir}/index.json is torn`;
  }
  if (onnxFingerprint(join(dir, 'encoder.onnx')) !== meta.fingerprint) return `${dir} is torn: encoder.onnx is of encoder ${onnxFingerprint(join(dir, 'encoder.onnx'))}, index.json of ${meta.fingerprint}`;
  const index = indexes.map((f) => splitSafetensors(f)).find((i) => (i.header.__metadata__ as Record<string, string>).fingerprint === meta.fingerprint);
  if (index === undefined) return `${dir}: index.json's encoder ${meta.fingerprint} is none of the indexes written`;
  const [begin, end] = (index.header.vectors as { data_offsets: [number, number] }).data_offsets;
  if (!readFileSync(join(dir, 'vectors.bin')).equals(index.data.subarray(begin, end))) return `${dir} is torn: vectors.bin is not the vectors of its index.json's index`;
  return null;
}

/** The bytes of a file, or of each file under a folder, by relative path; null when absent. */
function snapshot(path: string): Map<string, string> | null {
  if (!existsSync(path)) return null;
  const out = new Map<string, string>();
  const visit = (p: string, rel: string) => {
    if (statSync(p).isDirectory()) for (const f of readdirSync(p).sort()) visit(join(p, f), rel ? `${rel}/${f}` : f);
    else out.set(rel, createHash('sha256').update(readFileSync(p)).digest('hex'));
  };
  visit(path, '');
  return out;
}
const sameSnapshot = (a: Map<string, string> | null, b: Map<string, string> | null) => (a === null || b === null ? a === b : a.size === b.size && [...a].every(([k, v]) => b.get(k) === v));

/**
 * SIGKILL halfway through writing the file named `at` (the fault above): `target` (a file or a folder)
 * must be left exactly as it was (or absent, when it was), never torn; then the same command again,
 * over the temporary files the kill left, must succeed and write a complete `target`.
 */
async function killedWhileWriting(what: string, args: string[], target: string, at: string, complete: (target: string) => string | null, { limitS = 120, removedFirst = false } = {}): Promise<void> {
  // (removedFirst: the command removes the previous file before it writes the new one, as starting a run over does)
  const before = snapshot(target);
  const run = await simclr(args, limitS, undefined, { SIMCLR_TRIAL_KILL: at });
  let problem: string | null = null;
  if (run.hung) problem = `hang: killed after ${limitS} s`;
  else if (run.signal !== 'SIGKILL') problem = `the fault was not reached: the writer of ${at} ended with exit ${run.code}: ${lastLine(run)}`;
  else if (!sameSnapshot(before, snapshot(target)) && !(removedFirst && !existsSync(target))) problem = before === null || removedFirst ? `a torn ${target} left behind` : `the previous ${target} was not left intact`;
  record(`SIGKILL while writing ${what}: ${before === null || removedFirst ? 'no file left' : 'the previous one intact'}`, run, problem);
  await succeeds(`${what} written again after the kill, over its temporary files`, args, () => complete(target), limitS);
}

/** Two writers on one output at once (`faultA`/`faultB` slow one down): each succeeds or refuses naming `target`; `complete` judges what is left. */
async function twoWriters(what: string, a: string[], b: string[], target: string, complete: () => string | null, faultA: Record<string, string> = {}, faultB: Record<string, string> = {}): Promise<void> {
  const runs = await Promise.all([simclr(a, 180, undefined, faultA), simclr(b, 180, undefined, faultB)]);
  let problem: string | null = null;
  for (const r of runs) {
    if (r.hung) problem = 'hang';
    else if (r.signal !== null) problem = `crash: ${r.signal}`;
    else if (r.code !== 0 && (r.code !== 1 || !r.stderr.includes(target) || /^\s+at /m.test(r.stderr))) problem = `exit ${r.code}: ${lastLine(r)}`;
  }
  problem ??= complete();
  const both: Ended = { code: runs[0]!.code ?? runs[1]!.code, signal: null, stdout: '', stderr: runs.map((r) => r.stderr).join('\n'), seconds: Math.max(...runs.map((r) => r.seconds)), hung: false };
  record(`two ${what} on one output at once: ${runs.map((r) => (r.code === 0 ? 'written' : 'refused')).join(' and ')}, the output complete`, both, problem);
}

/** serve-web of a demo folder: it starts, says where, serves every file of the demo there, and stops on SIGTERM; `warns`: the warning of a tolerated fault. */
async function serves(name: string, dir: string, { warns, limitS = 30 }: { warns?: RegExp; limitS?: number } = {}): Promise<void> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [cli, 'serve-web', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<[number | null, string | null]>((ok) => child.on('exit', (code, signal) => ok([code, signal])));
  const url = await Promise.race([
    new Promise<string>((ok) => child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), /(http:\/\/\S+\/)/.test(stdout) && ok(/(http:\/\/\S+\/)/.exec(stdout)![1]!)))),
    exited.then(() => null),
    new Promise<null>((ok) => setTimeout(() => ok(null), limitS * 1000)),
  ]);
  let problem: string | null = null;
  if (url === null) problem = `did not start: ${stderr.trim().split('\n').pop() ?? ''}`;
  else {
    if (warns !== undefined && !warns.test(stderr)) problem = `no warning: ${stderr.trim().split('\n').pop() ?? ''}`;
    if (warns === undefined && stderr.trim() !== '') problem = `a warning about a complete demo: ${stderr.trim()}`;
    for (const f of WEB_FILES.filter((f) => existsSync(join(dir, f)))) {
      const response = await fetch(url + f);
      await response.arrayBuffer();
      if (response.status !== 200) problem ??= `${f}: HTTP ${response.status}`;
    }
    const outside = await fetch(`${url}..%2f..%2fetc%2fpasswd`);
    if (outside.status < 400 || outside.status >= 500) problem ??= `a path out of the folder answered ${outside.status}`;
  }
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  record(name, { code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000, hung: false }, problem);
}

// --- every command (#30): fixtures ----------------------------------------------------------------

const skipped = join(root, 'r-skip'); // the run pretrained on the broken folder with --skip-bad
const other = join(root, 'other'); // another encoder
await succeeds('a tiny run of another seed: another encoder', ['pretrain', '--data', images, '--out', other, ...tiny, '--seed', '1']);
const query = join(images, 'circle', '0.png');
const noEncoder = join(root, 'no-encoder');
mkdirSync(join(noEncoder, 'checkpoints'), { recursive: true });
writeFileSync(join(noEncoder, 'config.json'), config);
const corruptConfig = join(root, 'corrupt-config');
mkdirSync(corruptConfig);
writeFileSync(join(corruptConfig, 'encoder.safetensors'), readFileSync(encoder));
writeFileSync(join(corruptConfig, 'metrics.jsonl'), readFileSync(join(run, 'metrics.jsonl')));
writeFileSync(join(corruptConfig, 'config.json'), config.slice(0, config.length >> 1));
const lone = join(root, 'lone', 'encoder.safetensors'); // an encoder file with no run folder around it
mkdirSync(join(root, 'lone'));
writeFileSync(lone, readFileSync(encoder));
const noImages = join(root, 'no-images');
mkdirSync(noImages);
writeFileSync(join(noImages, 'notes.txt'), 'no images here\n');
const fakePng = join(root, 'fake.png');
writeFileSync(fakePng, 'this is text, not a PNG\n');
const notes = join(noImages, 'notes.txt');
const nowhere = join(root, 'no-such-folder', 'out');
const flatPhotos = join(root, 'flat-photos');

// --- index ------------------------------------------------------------------------------------------

const indexA = join(root, 'index-a.safetensors');
const indexB = join(root, 'index-b.safetensors');
const indexOf = (checkpoint: string, out: string, ...more: string[]) => ['index', '--checkpoint', checkpoint, '--data', images, '--out', out, ...more, ...quietly];
await succeeds('index: a folder of images', indexOf(run, indexA), () => safetensorsProblem(indexA, 'simclr-index/1'));
await succeeds('index: the same images by another encoder', indexOf(other, indexB), () => safetensorsProblem(indexB, 'simclr-index/1'));
const index8 = join(root, 'index-int8.safetensors');
await succeeds('index: --engine int8 (recorded)', indexOf(run, index8, '--engine', 'int8'), (r) => safetensorsProblem(index8, 'simclr-index/1') ?? (/"engine":\{"engine":"int8"/.test(r.stdout) ? null : `engine not recorded: ${r.stdout.slice(-200)}`));
await succeeds('index: the run\'s own data by default (--split test: its held-out images)', ['index', '--checkpoint', run, '--split', 'test', '--out', join(root, 'index-test.safetensors'), ...quietly], () => safetensorsProblem(join(root, 'index-test.safetensors'), 'simclr-index/1'));
await Promise.all([
  refused('index: no --checkpoint', ['index', '--data', images, ...quietly], /--checkpoint/, 30, 2),
  refused('index: a checkpoint that does not exist', indexOf(join(root, 'no-run'), join(root, 'x.safetensors')), /no-run/, 30),
  refused('index: a run folder without an encoder', indexOf(noEncoder, join(root, 'x.safetensors')), /no-encoder.*(checkpoint|encoder)/, 30),
  refused('index: a run folder whose config.json is corrupt', ['index', '--checkpoint', corruptConfig, '--out', join(root, 'x.safetensors'), ...quietly], /corrupt-config\/config\.json/, 30),
  refused('index: a lone encoder file and no --data', ['index', '--checkpoint', lone, '--out', join(root, 'x.safetensors'), ...quietly], /--data/, 30, 2),
  refused('index: --data that does not exist', ['index', '--checkpoint', run, '--data', join(root, 'missing'), '--out', join(root, 'x.safetensors'), ...quietly], /missing/, 30),
  refused('index: --data with no images', ['index', '--checkpoint', run, '--data', noImages, '--out', join(root, 'x.safetensors'), ...quietly], /no-images.*no images/, 30),
  refused('index: a corrupt image', ['index', '--checkpoint', run, '--data', broken, '--out', join(root, 'x.safetensors'), ...quietly], /corrupt\.png|dangling\.png/, 60),
]);
await succeeds('index: a corrupt image and a dangling symlink with --skip-bad', ['index', '--checkpoint', run, '--data', broken, '--skip-bad', '--out', join(root, 'index-skip.safetensors'), ...quietly], (r) =>
  /skipp\w* 2\b/.test(r.stderr) ? safetensorsProblem(join(root, 'index-skip.safetensors'), 'simclr-index/1') : `skipped count not reported: ${lastLine(r)}`,
);
await Promise.all([
  refused('index: --out in a folder that does not exist', indexOf(run, nowhere), /no-such-folder/, 30),
  refused('index: --out under a file', indexOf(run, join(root, 'a-file', 'index.safetensors')), /a-file/, 30),
  refused('index: --out is a folder', indexOf(run, images), /images.*folder|folder.*images/, 30),
  refused('index: --split of an unknown name', ['index', '--checkpoint', run, '--split', 'val', ...quietly], /--split/, 30, 2),
]);
{
  const target = join(root, 'index-kill.safetensors');
  writeFileSync(target, readFileSync(indexA));
  await killedWhileWriting('an index', indexOf(other, target), target, 'index-kill.safetensors', (t) => safetensorsProblem(t, 'simclr-index/1'));
  await killedWhileWriting('a new index', indexOf(other, join(root, 'index-new.safetensors')), join(root, 'index-new.safetensors'), 'index-new.safetensors', (t) => safetensorsProblem(t, 'simclr-index/1'));
  const race = join(root, 'index-race.safetensors');
  await twoWriters('index writers', indexOf(run, race), indexOf(other, race), race, () => safetensorsProblem(race, 'simclr-index/1'), { SIMCLR_TRIAL_SLOW: 'index-race', SIMCLR_TRIAL_SLOW_MS: '1500' });
  await succeeds('similar: the index two writers left is usable', ['similar', '--index', race, '--query', query, ...quietly]);
}

// --- similar ----------------------------------------------------------------------------------------

const similarOf = (index: string, q = query, ...more: string[]) => ['similar', '--index', index, '--query', q, ...more, ...quietly];
await succeeds('similar: an image', similarOf(indexA, query, '-k', '3'), (r) => (r.stdout.trim().split('\n').length === 4 ? null : `expected the query and 3 neighbours: ${r.stdout}`));
await succeeds('similar: an int8 index (queries quantised alike)', similarOf(index8, query, '-k', '3'), (r) => (r.stdout.trim().split('\n').length === 4 ? null : `expected the query and 3 neighbours: ${r.stdout}`));
const grid = join(root, 'grid.png');
await succeeds('similar: a folder of queries, --json and a grid', similarOf(indexA, join(images, 'square'), '--json', '--out', grid), (r) => {
  const out = JSON.parse(r.stdout) as { results: unknown[] };
  return out.results.length === 12 && existsSync(grid) && readFileSync(grid).subarray(1, 4).toString() === 'PNG' ? null : 'not 12 results and a PNG';
});
await succeeds('similar: another encoder\'s index with that encoder', similarOf(indexB, query, '--checkpoint', other));
const cutIndex = bad('index-cut.safetensors', readFileSync(indexA).subarray(0, readFileSync(indexA).length >> 1));
await Promise.all([
  refused('similar: a truncated index', similarOf(cutIndex), /index-cut\.safetensors/),
  refused('similar: an index cut inside its header', similarOf(bad('index-head.safetensors', readFileSync(indexA).subarray(0, 100))), /index-head\.safetensors/),
  refused('similar: an encoder file given as the index', similarOf(encoder), /encoder\.safetensors.*not a simclr index/),
  refused('similar: a file that is not safetensors as the index', similarOf(fakePng), /fake\.png/),
  refused('similar: an --index that does not exist', similarOf(join(root, 'no-index.safetensors')), /no-index\.safetensors.*(no such|does not exist)/),
  refused('similar: --index is a folder', similarOf(images), /images.*(folder|not a file)/),
  refused('similar: the index of another encoder (--checkpoint other)', similarOf(indexA, query, '--checkpoint', other), /index-a\.safetensors.*another encoder/),
]);
{
  const { header: h, data: d } = splitSafetensors(indexA);
  const meta = h.__metadata__ as Record<string, string>;
  const moved = bad('index-moved.safetensors', safetensorsBytes(JSON.stringify({ ...h, __metadata__: { ...meta, checkpoint: join(root, 'moved-away') } }), d));
  await refused('similar: an index whose encoder was moved away', similarOf(moved), /moved-away.*--checkpoint|--checkpoint.*moved-away/);
  await succeeds('similar: that index with --checkpoint', similarOf(moved, query, '--checkpoint', run));
  const files = JSON.parse(meta.files!) as string[];
  await refused('similar: an index whose file list does not match its vectors', similarOf(bad('index-files.safetensors', safetensorsBytes(JSON.stringify({ ...h, __metadata__: { ...meta, files: JSON.stringify(files.slice(1)) } }), d))), /index-files\.safetensors/);
  await refused('similar: an index claiming an impossible input size', similarOf(bad('index-size.safetensors', safetensorsBytes(JSON.stringify({ ...h, __metadata__: { ...meta, imageSize: 'big' } }), d))), /index-size\.safetensors/);
}
await Promise.all([
  refused('similar: a query that is not an image', similarOf(indexA, fakePng), /fake\.png/),
  refused('similar: a query that is a text file', similarOf(indexA, notes), /notes\.txt/),
  refused('similar: a query folder with no images', similarOf(indexA, noImages), /no-images.*no images/),
  refused('similar: a query that does not exist', similarOf(indexA, join(root, 'cat.jpg')), /cat\.jpg/, 30, 2),
  refused('similar: -k 0', similarOf(indexA, query, '-k', '0'), /-k\b|--k\b/, 30, 2),
  refused('similar: no --query', ['similar', '--index', indexA, ...quietly], /--query/, 30, 2),
  refused('similar: --out in a folder that does not exist', similarOf(indexA, query, '--out', join(nowhere, 'grid.png')), /no-such-folder/),
]);

// --- export -----------------------------------------------------------------------------------------

const onnxFile = join(root, 'encoder.onnx');
const exportOf = (checkpoint: string, ...more: string[]) => ['export', '--checkpoint', checkpoint, ...more, ...quietly];
await succeeds('export: ONNX of a run', exportOf(run, '--out', onnxFile), () => onnxProblem(onnxFile));
await succeeds('export: ONNX with the head and folded BatchNorm', exportOf(run, '--out', join(root, 'z.onnx'), '--head', '--fold-bn'), () => onnxProblem(join(root, 'z.onnx')));
await Promise.all([
  refused('export: --head of an encoder file (no head)', exportOf(lone, '--head', '--out', join(root, 'x.onnx')), /--head/, 30, 2),
  refused('export: no --checkpoint', ['export', '--out', join(root, 'x.onnx'), ...quietly], /--checkpoint/, 30, 2),
  refused('export: a checkpoint that does not exist', exportOf(join(root, 'no-run'), '--out', join(root, 'x.onnx')), /no-run/, 30),
  refused('export: a run folder without an encoder', exportOf(noEncoder, '--out', join(root, 'x.onnx')), /no-encoder/, 30),
  refused('export: an encoder file cut short', exportOf(join(root, 'cut.safetensors'), '--out', join(root, 'x.onnx')), /cut\.safetensors/, 30),
  refused('export: a run folder whose config.json is corrupt', exportOf(corruptConfig, '--out', join(root, 'x.onnx')), /corrupt-config\/config\.json/, 30),
  refused('export: --opset 3', exportOf(run, '--opset', '3'), /--opset/, 30, 2),
  refused('export: --index without --web', exportOf(run, '--out', join(root, 'x.onnx'), '--index', indexA), /--index.*--web|--web.*--index/, 30, 2),
  refused('export: --out in a folder that does not exist', exportOf(run, '--out', join(nowhere, 'e.onnx')), /no-such-folder/, 30),
]);
{
  const target = join(root, 'kill.onnx');
  writeFileSync(target, readFileSync(onnxFile));
  await killedWhileWriting('an ONNX export', exportOf(other, '--out', target), target, 'kill.onnx', onnxProblem);
  const race = join(root, 'race.onnx');
  await twoWriters('ONNX exports', exportOf(run, '--out', race), exportOf(other, '--out', race), race, () => onnxProblem(race), { SIMCLR_TRIAL_SLOW: 'race.onnx', SIMCLR_TRIAL_SLOW_MS: '1500' });
}

// --- export --web and serve-web ------------------------------------------------------------------------

const web = join(root, 'web');
const webOf = (checkpoint: string, dir: string, index: string, ...more: string[]) => exportOf(checkpoint, '--web', dir, '--index', index, ...more);
await succeeds('export --web: the browser demo', webOf(run, web, indexA), () => webProblem(web, [indexA]));
await succeeds('export --web: the demo of another encoder', webOf(other, join(root, 'web-again'), indexB), () => webProblem(join(root, 'web-again'), [indexB]));
await Promise.all([
  refused('export --web without --index', exportOf(run, '--web', join(root, 'w1')), /--index/, 30, 2),
  refused('export --web with --head', webOf(run, join(root, 'w1'), indexA, '--head'), /--head/, 30, 2),
  refused('export --web with --out', webOf(run, join(root, 'w1'), indexA, '--out', join(root, 'x.onnx')), /--out/, 30, 2),
  refused('export --web: an --index that does not exist', webOf(run, join(root, 'w1'), join(root, 'no-index.safetensors')), /no-index\.safetensors.*(no such|does not exist)/),
  refused('export --web: a truncated index', webOf(run, join(root, 'w1'), cutIndex), /index-cut\.safetensors/),
  refused('export --web: an encoder file given as the index', webOf(run, join(root, 'w1'), encoder), /encoder\.safetensors.*not a simclr index/),
  refused('export --web: the index of another encoder', webOf(run, join(root, 'w1'), indexB), /index-b\.safetensors.*another encoder/),
  refused('export --web: an index of another input size', webOf(run, join(root, 'w1'), indexA, '--image-size', '16'), /index-a\.safetensors.*px/),
  refused('export --web: the folder is a file', webOf(run, join(root, 'a-file'), indexA), /a-file/),
  refused('export --web: a folder holding other files (the images)', webOf(run, images, indexA), /images/),
]);
{
  const wrote = existsSync(join(root, 'w1')) || existsSync(join(images, 'index.html')) || readFileSync(join(root, 'a-file'), 'utf8') !== 'x' || readdirSync(root).some((f) => f.startsWith('.w1.'));
  record('export --web: the refusals above wrote nothing', { code: 1, signal: null, stdout: '', stderr: '', seconds: 0, hung: false }, wrote ? 'a refused export wrote files' : null);
}
{
  const target = join(root, 'web-kill');
  cpSync(web, target, { recursive: true });
  await killedWhileWriting('a browser demo folder', webOf(other, target, indexB), target, 'vectors.bin', (t) => webProblem(t, [indexA, indexB]));
  const race = join(root, 'web-race');
  // (the first writer waits 3 s before vectors.bin, after its encoder.onnx: the second one writes all its files meanwhile)
  await twoWriters('browser demo exports', webOf(run, race, indexA), webOf(other, race, indexB), race, () => webProblem(race, [indexA, indexB]), { SIMCLR_TRIAL_SLOW: 'vectors.bin', SIMCLR_TRIAL_SLOW_MS: '3000' });
  await serves('serve-web: the folder two writers left', race);
}
await serves('serve-web: a demo folder, every file served, nothing outside it', web);
{
  const missing = join(root, 'web-missing');
  cpSync(web, missing, { recursive: true });
  rmSync(join(missing, 'vectors.bin'));
  await serves('serve-web: a demo folder missing vectors.bin: served, the missing file named', missing, { warns: /web-missing: vectors\.bin is missing/ });
  const torn = join(root, 'web-torn');
  cpSync(web, torn, { recursive: true });
  writeFileSync(join(torn, 'index.json'), readFileSync(join(web, 'index.json')).subarray(0, 20));
  await serves('serve-web: a demo folder whose index.json is torn: served, the torn file named', torn, { warns: /web-torn: index\.json is not valid JSON/ });
}
await Promise.all([
  refused('serve-web: a folder that does not exist', ['serve-web', join(root, 'no-web'), '--port', '0'], /no-web/, 20),
  refused('serve-web: a folder that is not a demo', ['serve-web', images, '--port', '0'], /images/, 20),
  refused('serve-web: no folder', ['serve-web', '--port', '0'], /serve-web <dir>|folder/, 20, 2),
  refused('serve-web: two folders', ['serve-web', web, images, '--port', '0'], /serve-web <dir>|one folder/, 20, 2),
  refused('serve-web: --port 70000', ['serve-web', web, '--port', '70000'], /--port/, 20, 2),
]);
{
  const busy = createServer();
  await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', ok));
  const port = (busy.address() as { port: number }).port;
  await refused('serve-web: a --port in use', ['serve-web', web, '--port', String(port)], new RegExp(`${port}.*--port|--port.*${port}`), 20);
  busy.close();
}

// --- embed ------------------------------------------------------------------------------------------

const features = join(root, 'features.safetensors');
const embedOf = (checkpoint: string, out: string, ...more: string[]) => ['embed', '--checkpoint', checkpoint, '--out', out, ...more, ...quietly];
await succeeds('embed: h and z of the run\'s data', embedOf(run, features, '--z'), () => safetensorsProblem(features));
await succeeds('embed: --engine int8 (recorded)', embedOf(run, join(root, 'features-int8.safetensors'), '--engine', 'int8'), (r) => safetensorsProblem(join(root, 'features-int8.safetensors')) ?? (/"engine":\{"engine":"int8"/.test(r.stdout) ? null : `engine not recorded: ${r.stdout.slice(-200)}`));
await Promise.all([
  refused('embed: --z of an encoder file (no head)', embedOf(lone, join(root, 'x.safetensors'), '--data', images, '--z'), /--z/, 30, 2),
  refused('embed: a run folder without an encoder', embedOf(noEncoder, join(root, 'x.safetensors')), /no-encoder/, 30),
  refused('embed: a run folder whose config.json is corrupt', embedOf(corruptConfig, join(root, 'x.safetensors')), /corrupt-config\/config\.json/, 30),
  refused('embed: a lone encoder file and no --data', embedOf(lone, join(root, 'x.safetensors')), /--data/, 30, 2),
  refused('embed: --split test of a folder without labels', embedOf(run, join(root, 'x.safetensors'), '--data', flatPhotos, '--split', 'test'), /flat-photos.*test|test.*flat-photos/, 30),
  refused('embed: --out in a folder that does not exist', embedOf(run, join(nowhere, 'f.safetensors')), /no-such-folder/, 30),
  refused('similar: an embeddings file given as the index', similarOf(features), /features\.safetensors.*not a simclr index/),
]);
{
  await killedWhileWriting('embeddings', embedOf(run, join(root, 'features-kill.safetensors'), '--data', images), join(root, 'features-kill.safetensors'), 'features-kill.safetensors', (t) => safetensorsProblem(t));
  await killedWhileWriting('embeddings over earlier ones', embedOf(other, join(root, 'features-kill.safetensors'), '--data', images), join(root, 'features-kill.safetensors'), 'features-kill.safetensors', (t) => safetensorsProblem(t));
}

// --- eval -------------------------------------------------------------------------------------------

const evalRun = (...more: string[]) => ['eval', '--checkpoint', run, '--threads', '1', ...more, ...quietly];
const accuracy = (r: Ended) => (/"accuracy":\s*[\d.]+/.test(r.stdout) ? null : `no accuracy printed: ${r.stdout.slice(0, 200)}`);
await Promise.all([
  succeeds('eval: kNN', evalRun('--k', '5'), accuracy),
  succeeds('eval: linear, --solver lbfgs', evalRun('--protocol', 'linear'), accuracy),
  succeeds('eval: linear, --solver sgd', evalRun('--protocol', 'linear', '--solver', 'sgd', '--epochs', '2', '--batch-size', '8'), accuracy),
  succeeds('eval: linear, --solver sgd --augment', evalRun('--protocol', 'linear', '--solver', 'sgd', '--augment', '--epochs', '1', '--batch-size', '8'), accuracy),
  succeeds('eval: finetune', evalRun('--protocol', 'finetune', '--epochs', '1', '--batch-size', '8', '--fraction', '0.5', '--draws', '2'), accuracy),
  succeeds('eval: kNN on --fraction 0.5 of the labels', evalRun('--k', '5', '--fraction', '0.5', '--draws', '2'), accuracy),
  succeeds('eval: linear on --fraction 0.5 of the labels', evalRun('--protocol', 'linear', '--fraction', '0.5', '--draws', '2'), accuracy),
  succeeds('eval: --baseline random', evalRun('--baseline', 'random', '--k', '5'), accuracy),
  succeeds('eval: --baseline pixels', ['eval', '--baseline', 'pixels', '--data', images, '--k', '5', '--threads', '1', ...quietly], accuracy),
  succeeds('eval: the run with skipped images, on its own data', ['eval', '--checkpoint', skipped, '--k', '5', '--threads', '1', ...quietly], accuracy),
  refused('eval: no --checkpoint and no --baseline pixels', ['eval', '--data', images, ...quietly], /--checkpoint/, 30, 2),
  refused('eval: --baseline random without --checkpoint', ['eval', '--baseline', 'random', '--data', images, ...quietly], /--checkpoint/, 30, 2),
  refused('eval: --fraction 2', evalRun('--fraction', '2'), /--fraction/, 30, 2),
  refused('eval: --solver with --protocol knn', evalRun('--solver', 'sgd'), /--solver/, 30, 2),
  refused('eval: --k with --protocol linear', evalRun('--protocol', 'linear', '--k', '5'), /--k\b/, 30, 2),
  refused('eval: --augment with --solver lbfgs', evalRun('--protocol', 'linear', '--augment'), /--augment/, 30, 2),
  refused('eval: --fraction below 1 with --solver sgd', evalRun('--protocol', 'linear', '--solver', 'sgd', '--fraction', '0.5'), /--fraction/, 30, 2),
  refused('eval: --protocol finetune of raw pixels', ['eval', '--protocol', 'finetune', '--baseline', 'pixels', '--data', images, '--threads', '1', ...quietly], /finetune.*pixels|pixels.*finetune/, 30, 2),
  refused('eval: --head-layer of an encoder file (no head)', ['eval', '--checkpoint', lone, '--data', images, '--protocol', 'finetune', '--head-layer', '1', '--threads', '1', ...quietly], /--head-layer/, 30, 2),
  refused('eval: --protocol of an unknown name', evalRun('--protocol', 'svm'), /--protocol/, 30, 2),
  refused('eval: --test-fraction other than the run\'s split', evalRun('--test-fraction', '0.5'), /--test-fraction/, 30, 2),
  refused('eval: a checkpoint that does not exist', ['eval', '--checkpoint', join(root, 'no-run'), ...quietly], /no-run/, 30),
  refused('eval: a run folder without an encoder', ['eval', '--checkpoint', noEncoder, ...quietly], /no-encoder/, 30),
  refused('eval: a run folder whose config.json is corrupt', ['eval', '--checkpoint', corruptConfig, ...quietly], /corrupt-config\/config\.json/, 30),
  refused('eval: data without labels', evalRun('--data', flatPhotos), /flat-photos.*label|label.*flat-photos/, 60),
  refused('eval: --out in a folder that does not exist', evalRun('--out', join(nowhere, 'eval.json')), /no-such-folder/, 30),
  succeeds('eval: --engine onnxruntime', evalRun('--k', '5', '--engine', 'onnxruntime'), (r) => accuracy(r) ?? (/"engine":\{"engine":"onnxruntime"/.test(r.stdout) ? null : `engine not recorded: ${r.stdout.slice(-200)}`)),
  refused('eval: --engine of an unknown name', evalRun('--engine', 'tensorrt'), /--engine/, 30, 2),
  refused('eval: --engine int8 (8-bit features are for embed and index, not accuracies)', evalRun('--engine', 'int8'), /--engine/, 30, 2),
]);
{
  // The baseline cache: the second run of the same baseline takes it from the cache; a damaged entry is computed again.
  const again = await succeeds('eval: --baseline pixels, again: from the baseline cache', ['eval', '--baseline', 'pixels', '--data', images, '--k', '5', '--threads', '1', ...quietly], (r) => accuracy(r) ?? (/"cached":/.test(r.stdout) ? null : 'not taken from the cache'));
  const entry = /"cached":"([^"]+)"/.exec(again.stdout)?.[1];
  if (entry !== undefined) writeFileSync(entry, '{"key": {"cut');
  await succeeds('eval: --baseline pixels with a damaged cache entry: computed again', ['eval', '--baseline', 'pixels', '--data', images, '--k', '5', '--threads', '1', ...quietly], (r) =>
    accuracy(r) ?? (entry === undefined ? 'no cache entry to damage' : /"cached":/.test(r.stdout) ? 'the damaged entry was trusted' : /ignoring the baseline cache entry/.test(r.stderr) ? null : 'no warning about the damaged entry'));
}
{
  const target = join(root, 'eval-kill.json');
  await succeeds('eval: --out a file', evalRun('--k', '5', '--out', target), () => jsonProblem(target));
  await killedWhileWriting('an eval result', evalRun('--k', '3', '--out', target), target, 'eval-kill.json', jsonProblem);
}

// --- report -----------------------------------------------------------------------------------------

const reportOut = join(root, 'report.html');
const reportOf = (runs: string[], ...more: string[]) => ['report', ...runs, ...more, '--bank', '64', ...quietly];
await succeeds('report: a run', reportOf([run], '--out', reportOut), () => reportProblem(reportOut));
await succeeds('report: the run with skipped images (its --skip-bad honoured)', reportOf([skipped]), () => reportProblem(join(skipped, 'report.html')));
await succeeds('report: two runs, the second without an encoder', reportOf([run, noEncoder], '--out', join(root, 'two.html')), () => reportProblem(join(root, 'two.html')));
await Promise.all([
  refused('report: no run folder', ['report', ...quietly], /run folder/, 30, 2),
  refused('report: a folder that does not exist', reportOf([join(root, 'no-run')]), /no-run: no such run folder/, 30),
  refused('report: a folder that is not a run', reportOf([images]), /images.*not a run/, 30),
  refused('report: a run folder whose config.json is corrupt', reportOf([corruptConfig]), /corrupt-config\/config\.json/, 30),
  refused('report: two runs, the second one\'s config.json corrupt', reportOf([run, corruptConfig], '--out', join(root, 'x.html')), /corrupt-config\/config\.json/, 30),
]);
{
  const copy = join(root, 'run-summary');
  cpSync(run, copy, { recursive: true });
  writeFileSync(join(copy, 'summary.json'), '{"accuracy": {"simclr"');
  await refused('report: a run folder whose summary.json is corrupt', reportOf([copy]), /run-summary\/summary\.json/, 30);
  const torn = join(root, 'run-torn');
  cpSync(run, torn, { recursive: true });
  writeFileSync(join(torn, 'metrics.jsonl'), `${readFileSync(join(run, 'metrics.jsonl'), 'utf8')}{"type":"step","globalSt`);
  await succeeds('report: a metrics.jsonl whose last line a kill cut short: tolerated, counted', reportOf([torn]), (r) =>
    /metrics\.jsonl: skipped 1 /.test(r.stderr) ? reportProblem(join(torn, 'report.html')) : `the skipped line is not reported: ${lastLine(r)}`,
  );
  const cut = join(root, 'run-cut');
  cpSync(run, cut, { recursive: true });
  const newest = readdirSync(join(cut, 'checkpoints')).filter((f) => f.endsWith('.safetensors')).sort().pop()!;
  writeFileSync(join(cut, 'checkpoints', newest), readFileSync(join(cut, 'checkpoints', newest)).subarray(0, 4000));
  await refused('report: a run whose newest checkpoint is cut short', reportOf([cut]), new RegExp(`${newest.replace('.', '\\.')}`), 30);
}
await Promise.all([
  refused('report: --out in a folder that does not exist', reportOf([run], '--out', join(nowhere, 'r.html')), /no-such-folder/, 30),
  refused('report: --map-points 0', reportOf([run], '--map-points', '0'), /--map-points/, 30, 2),
]);
{
  const target = join(root, 'report-kill.html');
  writeFileSync(target, readFileSync(reportOut));
  await killedWhileWriting('a report', reportOf([other], '--out', target), target, 'report-kill.html', reportProblem);
}

// --- quickstart -------------------------------------------------------------------------------------

{
  const quick = ['--epochs', '1', '--batch-size', '8', '--width', '0.125', '--threads', '1', '--quiet', '--draws', '2'];
  const qFlat = join(root, 'q-flat');
  await refused('quickstart: --draws 1', ['quickstart', '--data', images, '--draws', '1'], /--draws/, 30, 2);
  await refused('quickstart: --label-fraction 1', ['quickstart', '--data', images, '--label-fraction', '1'], /--label-fraction/, 30, 2);
  await refused('quickstart: --no-overwrite into a folder holding a run', ['quickstart', '--data', flatPhotos, '--out', qFlat, ...quick, '--no-overwrite'], /--resume|--overwrite/, 30);
  await refused('quickstart: --data that does not exist', ['quickstart', '--data', join(root, 'missing'), '--out', join(root, 'q-missing'), ...quick], /missing/, 30);
  const badConfig = join(root, 'bad-config.yaml');
  writeFileSync(badConfig, 'epochs: [1, 2\nwidth: : 0.5\n');
  await refused('quickstart: a --config file that does not parse', ['quickstart', '--config', badConfig, '--out', join(root, 'q-config'), ...quick], /bad-config\.yaml/, 30);
  await refused('quickstart: a --config file that does not exist', ['quickstart', '--config', join(root, 'no-config.yaml'), '--out', join(root, 'q-config'), ...quick], /no-config\.yaml/, 30);
  await refused('quickstart: --resume of a run whose config.json is corrupt', ['quickstart', '--data', flatPhotos, '--out', corruptConfig, ...quick, '--resume', '--no-overwrite'], /corrupt-config/, 30);
  await killedWhileWriting('a quickstart\'s summary', ['quickstart', '--data', flatPhotos, '--out', qFlat, ...quick], join(qFlat, 'summary.json'), 'summary.json', jsonProblem, { removedFirst: true });
  await killedWhileWriting('a quickstart\'s report', ['quickstart', '--data', flatPhotos, '--out', qFlat, ...quick], join(qFlat, 'report.html'), 'report.html', reportProblem);
}

// --- sweep ------------------------------------------------------------------------------------------

{
  const sweepFile = (name: string, text: string) => {
    const file = join(root, name);
    writeFileSync(file, text);
    return file;
  };
  const base = `base:\n  data: ${images}\n  epochs: 1\n  batchSize: 8\n  width: 0.125\n  threads: 1\n  precision: fp32\n  knnEvery: 0\n`;
  const good = sweepFile('sweep.yaml', `${base}grid:\n  temperature: [0.2, 0.5]\n`);
  const sOut = join(root, 'sweep-out');
  const sweep = (file: string, ...more: string[]) => ['sweep', file, '--draws', '1', '--quiet', ...more];
  await Promise.all([
    refused('sweep: no sweep file', ['sweep', '--out', sOut], /give the sweep file/, 30, 2),
    refused('sweep: no --out', ['sweep', good], /--out is required/, 30, 2),
    refused('sweep: a sweep file that does not exist', sweep(join(root, 'no-sweep.yaml'), '--out', sOut), /no-sweep\.yaml: no such sweep file/, 30),
    refused('sweep: a file that does not parse', sweep(sweepFile('sweep-parse.yaml', 'base: [1, 2\ngrid: : x\n'), '--out', sOut), /sweep-parse\.yaml: line \d+/, 30),
    refused('sweep: an unknown option, named with its line', sweep(sweepFile('sweep-unknown.yaml', `${base}grid:\n  tempreature: [0.2]\n`), '--out', sOut), /sweep-unknown\.yaml: line 10: unknown option 'tempreature'/, 30),
    refused('sweep: a bad value, named with its line', sweep(sweepFile('sweep-value.yaml', `${base}grid:\n  temperature: [0.2, -1]\n`), '--out', sOut), /sweep-value\.yaml: line 10: 'temperature' must be positive/, 30),
    refused('sweep: an empty axis', sweep(sweepFile('sweep-empty.yaml', `${base}grid:\n  temperature: []\n`), '--out', sOut), /sweep-empty\.yaml: line 10: 'temperature' needs a non-empty list/, 30),
    refused('sweep: no grid', sweep(sweepFile('sweep-nogrid.yaml', base), '--out', sOut), /sweep-nogrid\.yaml: grid: must map/, 30),
    refused('sweep: out: in base', sweep(sweepFile('sweep-out.yaml', `${base}  out: x\ngrid:\n  temperature: [0.2]\n`), '--out', sOut), /sweep-out\.yaml: line 9: 'out' is the sweep's/, 30),
    refused('sweep: a seed axis twice', sweep(sweepFile('sweep-seeds.yaml', `${base}grid:\n  seed: [1, 2]\nseeds: [1, 2]\n`), '--out', sOut), /seeds: and a seed option both given/, 30),
    refused('sweep: --label-fraction 1', sweep(good, '--out', sOut, '--label-fraction', '1'), /--label-fraction/, 30, 2),
    refused('sweep: --out under a file', sweep(good, '--out', join(root, 'a-file', 'sweep')), /a-file/, 30),
  ]);
  await refused('sweep: base data that does not exist', sweep(sweepFile('sweep-missing.yaml', `${base.replace(images, join(root, 'missing'))}grid:\n  temperature: [0.2]\n`), '--out', join(root, 'sweep-missing')), /missing: no such file or folder/, 60);
  await succeeds('sweep: a grid of two runs, each in its folder, scored, summary.json', sweep(good, '--out', sOut), () => {
    const summary = JSON.parse(readFileSync(join(sOut, 'summary.json'), 'utf8')) as { runs: { folder: string; settings: { temperature: number } }[] };
    if (summary.runs.map((r) => r.settings.temperature).join() !== '0.2,0.5') return `runs ${JSON.stringify(summary.runs)}`;
    return summary.runs.every((r) => existsSync(join(sOut, r.folder, 'encoder.safetensors'))) ? null : 'a run folder without its encoder';
  });
  await succeeds('sweep: started again when finished, trains nothing', sweep(good, '--out', sOut), (r) => (/^sweep: 2 runs \(0 trained now\)/.test(r.stdout) ? null : `said: ${r.stdout.split('\n')[0]}`));
  await killedWhileWriting('a sweep\'s summary', sweep(good, '--out', sOut), join(sOut, 'summary.json'), 'summary.json', jsonProblem);
  const corrupt = join(root, 'sweep-corrupt');
  cpSync(sOut, corrupt, { recursive: true });
  writeFileSync(join(corrupt, 'baselines.json'), '{"cut');
  await refused('sweep: a corrupt baselines.json', sweep(good, '--out', corrupt), /baselines\.json: not valid JSON/, 30);
  cpSync(join(sOut, 'baselines.json'), join(corrupt, 'baselines.json'));
  const firstRun = readdirSync(corrupt).find((f) => f.startsWith('001-'))!;
  writeFileSync(join(corrupt, firstRun, 'summary.json'), '[]');
  await refused('sweep: a run folder whose summary.json is not a run\'s', sweep(good, '--out', corrupt), /001-[^:]*summary\.json: not a sweep run's summary/, 30);

  await Promise.all([
    refused('sweep: --run beyond the combinations', sweep(good, '--out', sOut, '--run', '3'), /--run 3, but .*sweep\.yaml has 2 combinations/, 30, 2),
    refused('sweep: --parallel 0', sweep(good, '--out', sOut, '--parallel', '0'), /--parallel must be ≥ 1/, 30, 2),
    refused('sweep: an --augment value that does not exist', sweep(sweepFile('sweep-augment.yaml', `${base}grid:\n  augment: [crop, crop+colour]\n`), '--out', sOut), /sweep-augment\.yaml: line 10: 'augment' must be one of crop\+color\+blur/, 30),
    refused('pretrain: a --head that does not exist', ['pretrain', '--data', images, '--head', 'mlp', '--out', join(root, 'bad-head')], /--head expects one of v1, v2, linear, none/, 30, 2),
  ]);
  const sweepReportProblem = (file: string) => {
    if (!existsSync(file)) return `${file} is missing`;
    const html = readFileSync(file, 'utf8');
    return html.endsWith('</html>\n') && html.includes('id="sweep-data"') ? null : `${file} is torn (${html.length} characters)`;
  };
  await killedWhileWriting('a sweep\'s report', sweep(good, '--out', sOut), join(sOut, 'report.html'), 'report.html', sweepReportProblem);
  await succeeds('report: of a sweep folder (its table and charts)', ['report', sOut, '--out', join(root, 'sweep-report.html'), '--quiet'], () => sweepReportProblem(join(root, 'sweep-report.html')));
  // Two runs at once, z scored too; its parent killed mid-run: the workers stop with it, and a restart finishes.
  const pOut = join(root, 'sweep-parallel');
  const heads = sweepFile('sweep-heads.yaml', `${base.replace('epochs: 1', 'epochs: 3')}grid:\n  head: [none, linear, v1]\n`);
  let parent = 0;
  const cut = simclr(sweep(heads, '--out', pOut, '--parallel', '2', '--probe-z'), 120, (pid) => (parent = pid));
  const t0 = performance.now();
  while (!readdirSync(root).includes('sweep-parallel') || !readdirSync(pOut).some((f) => existsSync(join(pOut, f, 'metrics.jsonl')))) {
    if (performance.now() - t0 > 60_000) break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  process.kill(parent, 'SIGKILL');
  const killed = await cut;
  await new Promise((ok) => setTimeout(ok, 3000));
  const orphans = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(pOut) && l.includes('--run'));
  record('sweep --parallel: killed, its workers stop with it', killed, orphans.length === 0 ? null : `${orphans.length} worker(s) still running`);
  await succeeds('sweep --parallel 2 --probe-z: restarted after a kill, every run scored on h and z', sweep(heads, '--out', pOut, '--parallel', '2', '--probe-z'), () => {
    const summary = JSON.parse(readFileSync(join(pOut, 'summary.json'), 'utf8')) as { runs: { settings: { head: string }; scores: unknown; zScores?: unknown }[] };
    if (summary.runs.length !== 3 || !summary.runs.every((r) => r.zScores)) return `runs ${JSON.stringify(summary.runs.map((r) => r.settings))}`;
    return sweepReportProblem(join(pOut, 'report.html'));
  });
}

const failed = outcomes.filter((o) => !o.pass);
console.log(JSON.stringify({ cases: outcomes.length, passed: outcomes.length - failed.length, failed: failed.map((o) => o.case), folder: process.argv.includes('--keep') ? root : null }));
console.log(`trial: ${outcomes.length} cases, ${outcomes.length - failed.length} passed, ${failed.length} failed`);
if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
process.exitCode = failed.length === 0 ? 0 : 1;
