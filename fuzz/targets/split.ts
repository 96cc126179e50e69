// A run's split.json (how its data was split; read again by eval, embed, index and the report).
// What is accepted must be a record those can use.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSplitRecord } from '../../src/data/open.js';
import { check, refuseOnly, scratch } from '../contract.js';

const dir = scratch('split');
const file = join(dir, 'split.json');
const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

export function fuzz(data: Buffer): void {
  writeFileSync(file, data);
  const r = refuseOnly(dir, () => readSplitRecord(dir));
  if (r === undefined) return;
  check(r !== null && typeof r === 'object' && !Array.isArray(r), 'the record is not an object');
  check(r.format === 'simclr-split/1' && typeof r.data === 'string' && ['given', 'held-out', 'none'].includes(r.kind), 'format, data or kind is wrong');
  check(typeof r.testFraction === 'number' && r.testFraction >= 0 && r.testFraction < 1, `testFraction ${String(r.testFraction)} is not in [0, 1)`);
  check(Number.isSafeInteger(r.seed), `seed ${String(r.seed)} is not an integer`);
  check(count(r.trainImages) && count(r.testImages), 'trainImages or testImages is not a count');
  check(r.test === undefined || (Array.isArray(r.test) && r.test.every((n) => typeof n === 'string')), 'test is not a list of names');
}
