// Safetensors, the container of checkpoints, encoder files, search indexes and decode caches: the
// input is a whole file, read three ways (from memory, by offsets from a file, its header only).
// All three must accept or refuse alike; what is accepted must write back to the same tensor bytes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors, parseSafetensors, readSafetensorsHeader, serializeSafetensors, type Safetensors } from '../../src/io/safetensors.js';
import { check, refuseOnly, scratch } from '../contract.js';

const dir = scratch('safetensors');
const file = join(dir, 'input.safetensors');

function dispose(s: Safetensors | undefined): void {
  if (s !== undefined) for (const t of s.tensors.values()) t.dispose();
}

function describe(s: { tensors: Map<string, { dtype: string; shape: readonly number[] }>; metadata: Record<string, string> }): string {
  return JSON.stringify([[...s.tensors].map(([k, t]) => [k, t.dtype, [...t.shape]]), Object.entries(s.metadata)]);
}

export function fuzz(data: Buffer): void {
  const memory = refuseOnly(dir, () => parseSafetensors(data, file));
  writeFileSync(file, data);
  const loaded = refuseOnly(dir, () => loadSafetensors(file));
  try {
    const header = refuseOnly(dir, () => readSafetensorsHeader(file));
    check((memory === undefined) === (loaded === undefined) && (loaded === undefined) === (header === undefined), `the readers disagree: from memory ${memory ? 'accepted' : 'refused'}, from the file ${loaded ? 'accepted' : 'refused'}, header ${header ? 'accepted' : 'refused'}`);
    if (memory === undefined || loaded === undefined || header === undefined) return;
    check(describe(memory) === describe(loaded) && describe(loaded) === describe(header), 'the readers read different tensors or metadata');
    // What was accepted writes back to the same tensor bytes (the data section, byte for byte).
    const written = Buffer.concat(serializeSafetensors(loaded.tensors, loaded.metadata));
    const dataStart = (b: Buffer) => 8 + Number(b.readBigUInt64LE(0));
    check(written.subarray(dataStart(written)).equals(data.subarray(dataStart(data))), 'writing the tensors back changed their bytes');
    const again = parseSafetensors(written, file);
    try {
      check(describe(again) === describe(loaded), 'writing the file back changed its header');
    } finally {
      dispose(again);
    }
  } finally {
    dispose(memory);
    dispose(loaded);
  }
}
