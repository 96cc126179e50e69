// safetensors: round trips, strict validation of untrusted files, atomic writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadSafetensors,
  parseSafetensors,
  saveSafetensors,
  serializeSafetensors,
  SafetensorsError,
  tensor,
  tidy,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'simclr-st-'));

/** A file written by hand from the format's definition, independent of serializeSafetensors. */
function handMade(header: object, data: number[]): Buffer {
  let json = JSON.stringify(header);
  while (json.length % 8 !== 0) json += ' ';
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([head, Buffer.from(json), Buffer.from(data)]);
}

test('reads a hand-made file', () => {
  tidy(() => {
    // float32 1.0 = 00 00 80 3f, 2.0 = 00 00 00 40; int64 7
    const bytes = handMade(
      {
        __metadata__: { format: 'pt' },
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'I64', shape: [1, 1], data_offsets: [8, 16] },
      },
      [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 7, 0, 0, 0, 0, 0, 0, 0],
    );
    const { tensors, metadata } = parseSafetensors(bytes);
    assert.deepEqual(metadata, { format: 'pt' });
    assert.deepEqual(tensors.get('a')!.toNumbers(), [1, 2]);
    assert.deepEqual(tensors.get('b')!.shape, [1, 1]);
    assert.equal(tensors.get('b')!.dtype, 'int64');
    assert.equal(tensors.get('b')!.item(), 7);
  });
});

test('writes the format byte for byte and round-trips every dtype', () => {
  tidy(() => {
    const [head, data] = serializeSafetensors({ x: tensor([1, 2], { dtype: 'float32' }) });
    const n = Number(Buffer.from(head!).readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const header = JSON.parse(Buffer.from(head!).subarray(8).toString());
    assert.deepEqual(header.x, { dtype: 'F32', shape: [2], data_offsets: [0, 8] });
    assert.deepEqual([...data!], [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);

    const file = join(dir, 'all.safetensors');
    const originals = {
      f64: tensor([1.5, -2], { dtype: 'float64' }),
      f32: tensor([[1, 2], [3, 4]]),
      bf16: tensor([1, 0.5], { dtype: 'bfloat16' }),
      f16: tensor([1, 0.25], { dtype: 'float16' }),
      i64: tensor([-3, 9], { dtype: 'int64' }),
      i32: tensor([5], { dtype: 'int32' }),
      u8: tensor([255, 0], { dtype: 'uint8' }),
      bool: tensor([true, false]),
      empty: tensor([], { dtype: 'float32' }),
    };
    saveSafetensors(file, originals, { epoch: '3' });
    const { tensors, metadata } = loadSafetensors(file);
    assert.deepEqual(metadata, { epoch: '3' });
    for (const [name, t] of Object.entries(originals)) {
      const back = tensors.get(name)!;
      assert.equal(back.dtype, t.dtype, name);
      assert.deepEqual(back.shape, t.shape, name);
      assert.deepEqual(back.toNumbers(), t.toNumbers(), name);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });
});

test('malformed files are rejected with a message naming the file and the problem', () => {
  const good = handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /fewer than the 8-byte header length/],
    ['truncated data', good.subarray(0, good.length - 3), /needs 8 bytes but its offsets span|outside the 5 data bytes/],
    ['header past the end', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(10_000n); return b; })(), /runs past the end of the file/],
    ['huge header length', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(2n ** 62n); return b; })(), /exceeds the/],
    ['not JSON', handMade({}, []).fill(0x41, 8), /not valid UTF-8 JSON/],
    [
      'overlapping offsets',
      handMade(
        { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } },
        [0, 0, 0, 0, 0, 0, 0, 0],
      ),
      /overlaps/,
    ],
    ['unknown dtype', handMade({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, new Array(16).fill(0)), /unknown dtype "F128"/],
    ['shape/bytes mismatch', handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Array(8).fill(0)), /needs 12 bytes but its offsets span 8/],
    ['hole in the data', handMade({ a: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } }, [0, 0, 1, 2]), /unused bytes/],
    ['negative shape', handMade({ a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }, []), /invalid shape/],
  ];
  for (const [name, bytes, message] of cases) {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.safetensors`);
    writeFileSync(file, bytes);
    assert.throws(
      () => loadSafetensors(file),
      (e: unknown) => e instanceof SafetensorsError && e.message.includes(file) && message.test(e.message),
      name,
    );
  }
});

test('a failed save leaves the previous file intact', () => {
  tidy(() => {
    const file = join(dir, 'keep.safetensors');
    saveSafetensors(file, { a: tensor([1]) });
    const before = readFileSync(file);
    assert.throws(() => saveSafetensors(file, { a: tensor([1]), b: tensor([1, 2], { dtype: 'complex64' }) }), /cannot store dtype complex64/);
    assert.deepEqual(readFileSync(file), before);
  });
});
