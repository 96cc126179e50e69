// A reader with a planted bug, and its target, for the test that the fuzzing machinery finds one:
// a header whose magic is "SIMCLR" followed by a count past the fields makes it index past the end
// (a TypeError, as an unchecked field would). Not a target of the long run.
import { join } from 'node:path';
import { DataError } from '../src/data/source.js';
import { refuseOnly, scratch } from './contract.js';

const dir = scratch('canary');
const file = join(dir, 'canary.bin');

function readCanary(data: Buffer): string {
  if (data.length < 8) throw new DataError(file, 'too short');
  if (data.toString('latin1', 0, 6) !== 'SIMCLR') throw new DataError(file, 'no magic');
  const count = data.readUInt16LE(6);
  const fields = data.subarray(8).toString('latin1').split(',');
  return count > fields.length ? (fields[count] as unknown as { trim(): string }).trim() : fields[0]!;
}

export function fuzz(data: Buffer): void {
  refuseOnly(dir, () => readCanary(data));
}
