// safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length,
// a JSON header { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { str: str } }
// padded to 8 bytes, then the tensors' bytes. Files may come from anywhere, so every field is checked.
import { readFileSync } from 'node:fs';
import { native } from '../native.js';
import { Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/types.js';
import { writeFileAtomic } from './atomic.js';

const fileDtypes: Record<string, { dtype: DType; bytes: number }> = {
  F64: { dtype: 'float64', bytes: 8 },
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float16', bytes: 2 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
  I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  I16: { dtype: 'int16', bytes: 2 },
  I8: { dtype: 'int8', bytes: 1 },
  U8: { dtype: 'uint8', bytes: 1 },
  BOOL: { dtype: 'bool', bytes: 1 },
};
const dtypeCodes = Object.fromEntries(Object.entries(fileDtypes).map(([code, d]) => [d.dtype, code])) as Record<DType, string>;

/** Headers larger than this are refused (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: not a valid safetensors file: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

export interface Safetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates the header; returns the entries sorted by offset and where the data starts. */
function parseHeader(bytes: Uint8Array, file: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (problem: string): never => {
    throw new SafetensorsError(file, problem);
  };
  if (bytes.byteLength < 8) fail(`the file has ${bytes.byteLength} bytes, fewer than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8n + headerLength > BigInt(bytes.byteLength)) {
    fail(`header length ${headerLength} runs past the end of the file (${bytes.byteLength} bytes); the file is truncated or corrupt`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataLength = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (info === null || typeof info !== 'object') fail(`tensor '${name}' is not described by an object`);
    const { dtype, shape, data_offsets: offsets } = info!;
    if (typeof dtype !== 'string' || !(dtype in fileDtypes)) {
      fail(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(fileDtypes).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      fail(`tensor '${name}' has data_offsets [${begin}, ${end}] outside the ${dataLength} data bytes`);
    }
    const { dtype: ours, bytes: itemBytes } = fileDtypes[dtype as string]!;
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * itemBytes;
    if (expected !== end - begin) {
      fail(`tensor '${name}' of shape [${(shape as number[]).join(', ')}] and dtype ${dtype} needs ${expected} bytes but its offsets span ${end - begin}`);
    }
    entries.push({ name, dtype: ours, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin < cursor) fail(`tensor '${e.name}' overlaps the tensor before it (offsets ${e.begin} < ${cursor})`);
    if (e.begin > cursor) fail(`there are ${e.begin - cursor} unused bytes before tensor '${e.name}'`);
    cursor = e.end;
  }
  if (cursor !== dataLength) fail(`the tensors cover ${cursor} of the ${dataLength} data bytes`);
  return { entries, metadata, dataStart };
}

/** Reads safetensors from bytes already in memory; `file` names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): Safetensors {
  const { entries, metadata, dataStart } = parseHeader(bytes, file);
  const tensors = new Map<string, Tensor>();
  try {
    for (const e of entries) {
      const view = bytes.subarray(dataStart + e.begin, dataStart + e.end);
      tensors.set(e.name, new Tensor(native.fromArray(view, e.shape, e.dtype)));
    }
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return { tensors, metadata };
}

export function loadSafetensors(path: string): Safetensors {
  return parseSafetensors(readFileSync(path), path);
}

/** The bytes of a safetensors file holding `tensors` (in the given order) and `metadata`. */
export function serializeSafetensors(
  tensors: Iterable<[string, Tensor]> | Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array[] {
  const list: [string, Tensor][] = Symbol.iterator in tensors ? [...(tensors as Iterable<[string, Tensor]>)] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new TypeError("a tensor cannot be named '__metadata__'");
    const code = dtypeCodes[t.dtype];
    if (code === undefined) throw new TypeError(`safetensors cannot store dtype ${t.dtype} (tensor '${name}')`);
    const data = t.toArray();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: code, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    chunks.push(bytes);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8, 'utf8');
  return [head, ...chunks];
}

/** Writes a safetensors file atomically. */
export function saveSafetensors(
  path: string,
  tensors: Iterable<[string, Tensor]> | Record<string, Tensor>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
