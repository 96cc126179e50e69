// The files of the checkpoint target (targets/checkpoint.ts): a safetensors header, then the
// weights its offsets reach, cut from a fixed block. Apart from the target, for the seeds and the
// tests (the target module makes its scratch folder when imported).

/** The fixed weights: 64 KiB of small float32 values (deterministic). */
export const WEIGHTS = (() => {
  const values = new Float32Array(16384);
  let s = 1;
  for (let i = 0; i < values.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    values[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 0.2;
  }
  return Buffer.from(values.buffer);
})();

/** The file a header makes: its length, the header, and the weights its offsets reach. */
export function fileOf(header: Buffer): Buffer {
  let end = 0;
  try {
    for (const v of Object.values(JSON.parse(header.toString('utf8')) as Record<string, { data_offsets?: unknown[] }>)) {
      const e = v?.data_offsets?.[1];
      if (typeof e === 'number' && Number.isSafeInteger(e) && e >= 0 && e <= WEIGHTS.length) end = Math.max(end, e);
    }
  } catch {
    // (not JSON: the reader refuses it)
  }
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, WEIGHTS.subarray(0, end)]);
}

