// What a fuzz target holds a reader to. The rule, for every reader of a file a user hands simclr:
// a bad file is refused with a DataError (SafetensorsError is one) whose message is
// "<the file>: <the problem>", naming the file at fault. Any other exception (a TypeError or
// RangeError from JavaScript, a libtorch error surfacing as is), a crash, a hang, an allocation
// past the bound the runner sets, or a result that breaks the reader's own promises (checked by
// each target) is a finding: the target throws it on to Jazzer.js, which saves the input.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { DataError } from '../src/data/source.js';

/**
 * A scratch folder for a target's files: under SIMCLR_FUZZ_TMP when the runner sets it (and
 * removes it after the run), else a fresh temporary folder.
 */
export function scratch(target: string): string {
  const base = process.env.SIMCLR_FUZZ_TMP;
  if (base === undefined) return mkdtempSync(join(tmpdir(), `simclr-fuzz-${target}-`));
  const dir = join(base, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Whether `e` is an allowed refusal: a DataError naming a file under `dir` (or `dir` itself), with a problem stated. */
export function isRefusal(e: unknown, dir: string): boolean {
  if (!(e instanceof DataError)) return false;
  const named = e.file === dir || e.file.startsWith(dir + sep);
  return named && e.message.startsWith(`${e.file}: `) && e.message.length > e.file.length + 2;
}

/** Runs `read`; an allowed refusal is swallowed (returns undefined), anything else thrown on as a finding. */
export function refuseOnly<T>(dir: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (isRefusal(e, dir)) return undefined;
    throw e;
  }
}

/** {@link refuseOnly} for asynchronous readers. */
export async function refuseOnlyAsync<T>(dir: string, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (isRefusal(e, dir)) return undefined;
    throw e;
  }
}

/** A broken promise of a reader that accepted its input: a finding. */
export class ContractViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContractViolation';
  }
}

/** Throws a {@link ContractViolation} unless `ok`. */
export function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new ContractViolation(what);
}
