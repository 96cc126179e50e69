// How to start Jazzer.js (npm's @jazzer.js/core 4, libFuzzer inside a Node addon) on this machine.
//
// @jazzer.js/fuzzer ships its addon prebuilt only, linked against glibc 2.38 and GCC 13's libstdc++;
// Debian 12 has glibc 2.36 and GCC 12, so the prebuilt addon does not load there ("version
// `GLIBC_2.38' not found"). It needs three symbols from those versions: __isoc23_strtol and
// __isoc23_strtoul (C23's strtol/strtoul, the same for the decimal and hex numbers libFuzzer parses)
// and std::ios_base_library_init (GCC 13's iostream initialisation hook). Where the addon does not
// load, this prepares, once, under node_modules/.cache/simclr-jazzer/:
//   - a copy of the addon whose version needs that the system lacks are marked weak (a flag in the
//     ELF version-needs table; the loader then only skips the version check, nothing else changes),
//   - a small shared library defining those three symbols (built with g++, which ./setup.sh installs),
// and the run preloads the library (LD_PRELOAD) and points the addon's loader at the copy
// (fuzz/jazzer-preload.cjs). Where the prebuilt addon loads as it is, nothing of this is used.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/fuzz). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const require = createRequire(import.meta.url);

/** What a Jazzer.js run needs: node's arguments before the CLI, the CLI, and environment variables. */
export interface JazzerLaunch {
  /** Node options placed before the CLI script. */
  nodeArgs: string[];
  /** Jazzer.js's command-line script. */
  cli: string;
  /** Variables added to the environment. */
  env: Record<string, string>;
  /** How the addon is loaded, in words. */
  note: string;
}

const SHIM = `// Symbols of glibc 2.38 and GCC 13's libstdc++ that @jazzer.js/fuzzer's prebuilt addon uses.
#include <cstdlib>
#include <ios>
extern "C" long __isoc23_strtol(const char* s, char** end, int base) { return std::strtol(s, end, base); }
extern "C" unsigned long __isoc23_strtoul(const char* s, char** end, int base) { return std::strtoul(s, end, base); }
namespace std { void ios_base_library_init() { static ios_base::Init init; } }
`;

/** Why the addon at `path` does not load in a fresh node (null when it loads). */
function loadError(path: string, env: Record<string, string> = {}): string | null {
  const r = spawnSync(process.execPath, ['-e', 'process.dlopen({ exports: {} }, process.argv[1])', path], { encoding: 'utf8', env: { ...process.env, ...env } });
  return r.status === 0 ? null : (r.stderr || `exit ${r.status}`).trim();
}

/** Marks the named versions in the addon's version-needs table (.gnu.version_r) weak (VER_FLG_WEAK). */
function weakenVersions(bytes: Buffer, versions: ReadonlySet<string>): number {
  if (bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(bytes.readBigUInt64LE(0x28));
  const shentsize = bytes.readUInt16LE(0x3a);
  const shnum = bytes.readUInt16LE(0x3c);
  const section = (i: number) => {
    const o = shoff + i * shentsize;
    return { type: bytes.readUInt32LE(o + 4), offset: Number(bytes.readBigUInt64LE(o + 0x18)), link: bytes.readUInt32LE(o + 0x28), info: bytes.readUInt32LE(o + 0x2c) };
  };
  let verneed: ReturnType<typeof section> | undefined;
  for (let i = 0; i < shnum; i++) if (section(i).type === 0x6ffffffe) verneed = section(i);
  if (verneed === undefined) throw new Error('no version-needs section');
  const strings = section(verneed.link).offset;
  const name = (at: number) => bytes.toString('latin1', strings + at, bytes.indexOf(0, strings + at));
  let weakened = 0;
  let need = verneed.offset;
  for (let n = 0; n < verneed.info; n++) {
    let aux = need + bytes.readUInt32LE(need + 8);
    for (let k = 0; k < bytes.readUInt16LE(need + 2); k++) {
      if (versions.has(name(bytes.readUInt32LE(aux + 8)))) {
        bytes.writeUInt16LE(bytes.readUInt16LE(aux + 4) | 2, aux + 4);
        weakened++;
      }
      aux += bytes.readUInt32LE(aux + 12);
    }
    need += bytes.readUInt32LE(need + 12);
  }
  return weakened;
}

let launch: JazzerLaunch | undefined;

/** How to launch Jazzer.js here (prepared once per process; the files once per machine). */
export function jazzerLaunch(): JazzerLaunch {
  if (launch !== undefined) return launch;
  const cli = require.resolve('@jazzer.js/core/dist/cli.js');
  const fuzzerDir = dirname(require.resolve('@jazzer.js/fuzzer/package.json'));
  const prebuilt = join(fuzzerDir, 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
  const first = loadError(prebuilt);
  if (first === null) return (launch = { nodeArgs: [], cli, env: {}, note: 'the prebuilt addon as shipped' });
  if (!/version `[^']+' not found/.test(first)) throw new Error(`@jazzer.js/fuzzer's addon does not load: ${first}`);
  const original = readFileSync(prebuilt);
  const dir = join(repoRoot, 'node_modules', '.cache', 'simclr-jazzer', createHash('sha256').update(original).update(SHIM).digest('hex').slice(0, 16));
  const addon = join(dir, 'fuzzer.node');
  const shim = join(dir, 'glibc-shim.so');
  const env = { LD_PRELOAD: shim, SIMCLR_JAZZER_ADDON: addon };
  if (!existsSync(addon) || !existsSync(shim)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'glibc-shim.cc'), SHIM);
    const cc = spawnSync('g++', ['-O2', '-shared', '-fPIC', '-o', `${shim}.tmp`, join(dir, 'glibc-shim.cc')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`building ${shim} failed (g++ is needed: apt-get install g++): ${cc.error?.message ?? cc.stderr}`);
    renameSync(`${shim}.tmp`, shim);
    // Each load names the next missing version; weaken it and try again.
    const missing = new Set<string>();
    for (let error: string | null = first; error !== null; ) {
      const version = /version `([^']+)' not found/.exec(error)?.[1];
      if (version === undefined || missing.has(version) || missing.size > 8) throw new Error(`@jazzer.js/fuzzer's addon does not load here even with ${shim}: ${error}`);
      missing.add(version);
      const bytes = Buffer.from(original);
      weakenVersions(bytes, missing);
      writeFileSync(`${addon}.tmp`, bytes);
      error = loadError(`${addon}.tmp`, { LD_PRELOAD: shim });
    }
    renameSync(`${addon}.tmp`, addon);
  }
  return (launch = {
    nodeArgs: ['--require', join(repoRoot, 'fuzz', 'jazzer-preload.cjs')],
    cli,
    env,
    note: `the prebuilt addon made loadable on ${process.report?.getReport ? `glibc ${(process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime}` : 'this system'} (${dir})`,
  });
}
