// simclr pretrain --config: a JSON or YAML file (the input's first byte: odd for YAML). What is
// accepted must hold what the same options given as flags would: each value of its flag's type,
// finite, an integer where the flag takes one, one of its choices, within its check.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pretrainFlags, resolveConfig } from '../../src/cli/pretrain-flags.js';
import type { Flag } from '../../src/cli/args.js';
import { check, refuseOnly, scratch } from '../contract.js';

const dir = scratch('config');
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function fuzz(data: Buffer): void {
  const file = join(dir, (data[0] ?? 0) & 1 ? 'config.yaml' : 'config.json');
  writeFileSync(file, data.subarray(1));
  const config = refuseOnly(dir, () => resolveConfig({ config: file }, new Set()));
  if (config === undefined) return;
  for (const [flag, spec] of Object.entries(pretrainFlags) as [string, Flag][]) {
    if (['config', 'resume', 'overwrite', 'report'].includes(flag)) continue;
    const value = (config as unknown as Record<string, unknown>)[camel(flag)];
    const what = `${file}: '${camel(flag)}' was accepted as ${JSON.stringify(value)} (${String(value)})`;
    if (value === spec.default) continue; // (the default, as a flag not given has it: null for 'from the recipe')
    if (spec.type === 'boolean') check(typeof value === 'boolean', what);
    else if (spec.type === 'string') check(typeof value === 'string' && (!spec.choices || spec.choices.includes(value)), what);
    else {
      check(typeof value === 'number' && Number.isFinite(value), `${what}: not a finite number`);
      if (spec.type === 'int') check(Number.isSafeInteger(value), `${what}: not an exact integer`);
      check(!spec.check?.(value as number), `${what}: ${spec.check?.(value as number)}`);
    }
  }
  for (const key of Object.keys(config)) check(Object.keys(pretrainFlags).some((f) => camel(f) === key), `${file}: unknown option '${key}' was accepted`);
}
