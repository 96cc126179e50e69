// A run folder's config.json, which loadEncoder reads beside an encoder file (the run's data and
// how to reopen it: --skip-bad, the source scale). The input is config.json; the encoder file
// beside it is fixed (the checkpoint target's tiny encoder). What is accepted must give options
// that reopening the data takes (runDataOptions).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEncoder, runDataOptions } from '../../src/simclr/encoder-file.js';
import { check, refuseOnly, scratch } from '../contract.js';
import { fileOf } from '../checkpoint-file.js';
import { repoRoot } from '../jazzer.js';

const dir = scratch('run-config');
const encoderFile = join(dir, 'encoder.safetensors');
writeFileSync(encoderFile, fileOf(readFileSync(join(repoRoot, 'fuzz', 'corpus', 'checkpoint', 'seed-encoder.json'))));

export function fuzz(data: Buffer): void {
  writeFileSync(join(dir, 'config.json'), data);
  const loaded = refuseOnly(dir, () => loadEncoder(encoderFile));
  if (loaded === undefined) return;
  try {
    check(loaded.config !== null && typeof loaded.config.data === 'string', 'a config without its data was accepted');
    const o = runDataOptions(loaded, loaded.config.data);
    check(typeof o.skipBad === 'boolean', `skipBad ${JSON.stringify(o.skipBad)}`);
    check(o.sourceScale === undefined || (typeof o.sourceScale === 'number' && o.sourceScale >= 1), `sourceScale ${JSON.stringify(o.sourceScale)} would reach imageFolder`);
  } finally {
    loaded.encoder.dispose();
  }
}
