// safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length,
// a JSON header { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { str: str } }
// padded to 8 bytes, then the tensors' bytes. Files may come from anywhere, so every field is checked.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { native } from '../native.js';
import { Tensor, tidy } from '../tensor/tensor.js';
import { empty } from '../tensor/create.js';
import * as ops from '../tensor/generated/ops.js';
import type { DType } from '../tensor/types.js';
import { writeFileAtomic } from './atomic.js';
import { DataError } from '../data/source.js';

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

/**
 * Thrown for a file that is not valid safetensors (bad header, truncated data…); the message names
 * the file. A {@link DataError}, as every refusal of a bad file a user hands the library is.
 */
export class SafetensorsError extends DataError {
  constructor(file: string, problem: string) {
    super(file, `not a valid safetensors file: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

/** The contents of a safetensors file. */
export interface Safetensors {
  /** The tensors by name, in the file's order (owned by the caller). */
  tensors: Map<string, Tensor>;
  /** The header's `__metadata__` string pairs. */
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

/** Throws on a key that appears twice in one JSON object (JSON.parse would keep the last silently). */
function checkDuplicateKeys(json: string, fail: (problem: string) => never): void {
  const objects: Set<string>[] = [];
  const containers: ('{' | '[')[] = [];
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      let k = j + 1;
      while (json[k] === ' ' || json[k] === '\n' || json[k] === '\r' || json[k] === '\t') k++;
      if (json[k] === ':' && containers.at(-1) === '{') {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        const seen = objects.at(-1)!;
        if (seen.has(key)) fail(`the header names '${key}' twice`);
        seen.add(key);
      }
      i = j;
    } else if (ch === '{' || ch === '[') {
      containers.push(ch);
      if (ch === '{') objects.push(new Set());
    } else if (ch === '}' || ch === ']') {
      if (containers.pop() === '{') objects.pop();
    }
  }
}

/**
 * Parses and validates the header (`head`: the file's first bytes, at least the 8-byte length and
 * the header); returns the entries sorted by offset and where the data starts.
 */
function parseHeader(head: Uint8Array, fileBytes: number, file: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (problem: string): never => {
    throw new SafetensorsError(file, problem);
  };
  if (fileBytes < 8) fail(`the file has ${fileBytes} bytes, fewer than the 8-byte header length`);
  const headerLength = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8n + headerLength > BigInt(fileBytes)) {
    fail(`header length ${headerLength} runs past the end of the file (${fileBytes} bytes); the file is truncated or corrupt`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, dataStart));
    header = JSON.parse(text);
    checkDuplicateKeys(text, fail);
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataLength = fileBytes - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        // (defined, not assigned: a key '__proto__' would otherwise set the prototype and be lost)
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
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
    // Strides are products of the sizes, zeros left out: they must stay exact (and within int64).
    let span = 1;
    for (const d of shape as number[]) if (d > 0 && (span *= d) > Number.MAX_SAFE_INTEGER) fail(`tensor '${name}' has a shape [${(shape as number[]).join(', ')}] whose strides overflow`);
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

/** Tensors of more bytes than this are read and written in pieces of this size: never a second copy of a whole decode cache in memory. */
const PIECE = 64 * 2 ** 20;

/** Tensors from their entries, each one's bytes supplied by `bytesOf` (in pieces, for large ones); all or none. */
function materialise(entries: Entry[], bytesOf: (e: Entry, begin: number, length: number) => Uint8Array): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  try {
    for (const e of entries) {
      const length = e.end - e.begin;
      if (length <= PIECE) {
        tensors.set(e.name, new Tensor(native.fromArray(bytesOf(e, 0, length), e.shape, e.dtype)));
        continue;
      }
      const bytes = empty([length], { dtype: 'uint8' });
      try {
        for (let at = 0; at < length; at += PIECE) {
          const n = Math.min(PIECE, length - at);
          tidy(() => void bytes.narrow(0, at, n).copy_(new Tensor(native.fromArray(bytesOf(e, at, n), [n], 'uint8'))));
        }
        tensors.set(e.name, tidy(() => ops.view$dtype(bytes, e.dtype).view(e.shape)));
      } finally {
        bytes.dispose();
      }
    }
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return tensors;
}

/** Reads safetensors from bytes already in memory; `file` names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): Safetensors {
  const { entries, metadata, dataStart } = parseHeader(bytes, bytes.byteLength, file);
  return { tensors: materialise(entries, (e, at, n) => bytes.subarray(dataStart + e.begin + at, dataStart + e.begin + at + n)), metadata };
}

/** Reads `length` bytes at `position` (in pieces: one read returns at most 2 GiB). */
function readAt(fd: number, position: number, length: number, file: string): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let done = 0; done < length; ) {
    const n = readSync(fd, out, done, Math.min(length - done, 1 << 30), position + done);
    if (n === 0) throw new SafetensorsError(file, `the file ended at byte ${position + done} while reading`);
    done += n;
  }
  return out;
}

function withFile<T>(path: string, use: (fd: number, bytes: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
    if (fstatSync(fd).isDirectory()) {
      closeSync(fd);
      throw Object.assign(new Error('a folder'), { code: 'EISDIR' });
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new DataError(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a file' : code === 'EACCES' ? 'permission denied' : `cannot open it (${(e as Error).message})`);
  }
  try {
    return use(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

function readHead(fd: number, bytes: number, path: string): ReturnType<typeof parseHeader> {
  const length = readAt(fd, 0, Math.min(8, bytes), path);
  const claimed = length.byteLength < 8 ? 0 : Number(length.readBigUInt64LE(0));
  // (a length past the limit or the file's end is refused by parseHeader without reading it)
  const headerBytes = claimed <= MAX_HEADER_BYTES && claimed <= bytes - 8 ? claimed : 0;
  return parseHeader(Buffer.concat([length, readAt(fd, 8, headerBytes, path)]), bytes, path);
}

/** A file's metadata and its tensors' names, dtypes and shapes, without reading the tensors. */
export function readSafetensorsHeader(path: string): {
  /** The header's `__metadata__` string pairs. */
  metadata: Record<string, string>;
  /** Each tensor's dtype and shape by name, without its data. */
  tensors: Map<string, {
    /** Element type. */
    dtype: DType;
    /** Size of each dimension. */
    shape: number[];
  }>;
} {
  const { entries, metadata } = withFile(path, (fd, bytes) => readHead(fd, bytes, path));
  return { metadata, tensors: new Map(entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape }])) };
}

/** Loads a safetensors file of any size (read by offsets); `select` picks which tensors to read. */
export function loadSafetensors(path: string, select: (name: string) => boolean = () => true): Safetensors {
  return withFile(path, (fd, bytes) => {
    const { entries, metadata, dataStart } = readHead(fd, bytes, path);
    return { tensors: materialise(entries.filter((e) => select(e.name)), (e, at, n) => readAt(fd, dataStart + e.begin + at, n, path)), metadata };
  });
}

/** The bytes of a safetensors file holding `tensors` (in the given order) and `metadata`. */
export function serializeSafetensors(
  tensors: Iterable<[string, Tensor]> | Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array[] {
  return [...safetensorsPieces(tensors, metadata)];
}

/** The header, then each tensor's bytes as they are asked for: a large tensor in pieces (see PIECE). */
function* safetensorsPieces(tensors: Iterable<[string, Tensor]> | Record<string, Tensor>, metadata: Record<string, string>): Generator<Uint8Array> {
  const list: [string, Tensor][] = Symbol.iterator in tensors ? [...(tensors as Iterable<[string, Tensor]>)] : Object.entries(tensors);
  // (no prototype: a tensor or metadata key named '__proto__' is an ordinary key)
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new TypeError("a tensor cannot be named '__metadata__'");
    const code = dtypeCodes[t.dtype];
    if (code === undefined) throw new TypeError(`safetensors cannot store dtype ${t.dtype} (tensor '${name}')`);
    const byteLength = t.numel * fileDtypes[code]!.bytes;
    header[name] = { dtype: code, shape: t.shape, data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8, 'utf8');
  yield head;
  const asBytes = (data: ArrayBufferView) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (const [, t] of list) {
    const byteLength = t.numel * fileDtypes[dtypeCodes[t.dtype]]!.bytes;
    if (byteLength <= PIECE) {
      yield asBytes(t.toArray());
      continue;
    }
    const bytes = tidy(() => ops.view$dtype(t.contiguous().flatten(), 'uint8'));
    try {
      for (let at = 0; at < byteLength; at += PIECE) yield asBytes(tidy(() => bytes.narrow(0, at, Math.min(PIECE, byteLength - at)).toArray()));
    } finally {
      bytes.dispose();
    }
  }
}

/** Writes a safetensors file atomically. */
export function saveSafetensors(
  path: string,
  tensors: Iterable<[string, Tensor]> | Record<string, Tensor>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, safetensorsPieces(tensors, metadata));
}
