// safetensors: round trips, strict validation of untrusted files, atomic writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadSafetensors,
  parseSafetensors,
  readSafetensorsHeader,
  resnet,
  saveSafetensors,
  serializeSafetensors,
  SafetensorsError,
  tensor,
  tidy,
  writeFileAtomic,
  DataError,
} from '../src/index.js';
import { spawnSync } from 'node:child_process';
import { loadEncoder } from '../src/simclr/encoder-file.js';
import { readCheckpoint } from '../src/simclr/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'simclr-st-'));

/** A file written by hand from the format's definition, independent of serializeSafetensors. */
function handMade(header: object | string, data: number[]): Buffer {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
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
    ['duplicate key', handMade('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [7]), /the header names 'a' twice/],
    ['duplicate metadata key', handMade('{"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [7]), /the header names 'k' twice/],
    ['overflowing shape', handMade({ a: { dtype: 'U8', shape: [0, 2 ** 53 - 1, 2 ** 53 - 1], data_offsets: [0, 0] } }, []), /whose strides overflow/],
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

test('a file above 2 GiB loads (read by offsets, not as one buffer)', () => {
  // A sparse file: a 2 GiB + 8-byte tensor of zeros first, then a small one stored past the 2 GiB mark.
  const big = 2 ** 31 + 8;
  let json = JSON.stringify({ __metadata__: { note: 'large' }, big: { dtype: 'U8', shape: [big], data_offsets: [0, big] }, small: { dtype: 'F32', shape: [2], data_offsets: [big, big + 8] } });
  while (json.length % 8 !== 0) json += ' ';
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const file = join(dir, 'large.safetensors');
  const fd = openSync(file, 'w');
  writeSync(fd, Buffer.concat([head, Buffer.from(json)]));
  writeSync(fd, Buffer.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]), 0, 8, 8 + json.length + big);
  closeSync(fd);
  assert.ok(statSync(file).size > 2 ** 31);
  const header = readSafetensorsHeader(file);
  assert.deepEqual(header.tensors.get('big'), { dtype: 'uint8', shape: [big] });
  const { tensors, metadata } = loadSafetensors(file, (name) => name === 'small');
  assert.equal(metadata.note, 'large');
  assert.deepEqual([...tensors.keys()], ['small']);
  assert.deepEqual(Array.from(tensors.get('small')!.toArray() as Float32Array), [1, 2]);
  tensors.get('small')!.dispose();
  unlinkSync(file);
});

test('a tensor above the 64 MiB piece is written and read in pieces, byte for byte (a hand-written file reads the same)', () => {
  // 18M float32 values (72 MB: two pieces and a part), a pattern that differs in every piece
  const n = 18 * 2 ** 20;
  const values = Float32Array.from({ length: n }, (_, i) => (i % 1009) * 0.5 - (i >> 20));
  const file = join(dir, 'pieces.safetensors');
  const t = tensor(values, { shape: [n / 4, 4] });
  saveSafetensors(file, { small: tensor([7], { dtype: 'int32' }), big: t, after: tensor([1, 2, 3], { dtype: 'uint8' }) });
  // the data section as the format defines it: small, big, after, end to end
  const bytes = readFileSync(file);
  const dataStart = 8 + Number(bytes.readBigUInt64LE(0));
  const bigBytes = Buffer.from(values.buffer);
  assert.equal(bytes.length, dataStart + 4 + bigBytes.length + 3);
  assert.ok(bytes.subarray(dataStart + 4, dataStart + 4 + bigBytes.length).equals(bigBytes));
  const loaded = loadSafetensors(file).tensors;
  assert.deepEqual(loaded.get('big')!.shape, [n / 4, 4]);
  assert.equal(loaded.get('big')!.dtype, 'float32');
  assert.ok(Buffer.from((loaded.get('big')!.toArray() as Float32Array).buffer).equals(bigBytes));
  assert.deepEqual(Array.from(loaded.get('after')!.toArray() as Uint8Array), [1, 2, 3]);
  for (const x of [t, ...loaded.values()]) x.dispose();
  unlinkSync(file);
});

test('an encoder file whose architecture is implausible or disagrees with its weights, and a checkpoint with an unreadable config, name the file', () => {
  const encoder = join(dir, 'encoder.safetensors');
  const weights = (width: number) => tidy(() => resnet(18, { cifarStem: true, widthMultiplier: width, inChannels: 1 }).stateDict());
  const save = (file: string, width: string, metadata: Record<string, string> = {}) => {
    const state = weights(0.125);
    saveSafetensors(file, state, { format: 'simclr-encoder/1', depth: '18', cifarStem: 'true', width, inChannels: '1', imageSize: '28', ...metadata });
    for (const t of state.values()) t.dispose();
  };
  save(encoder, '1000');
  assert.throws(() => loadEncoder(encoder), new RegExp(`${encoder}: the encoder's architecture does not hold: width 1000 is not in \\(0, 16\\]`));
  save(encoder, '2');
  assert.throws(() => loadEncoder(encoder), /conv1\.weight is \[8, 1, 3, 3\], but the architecture it states needs \[128, 1, 3, 3\]/);
  save(encoder, '0.125');
  const loaded = loadEncoder(encoder);
  assert.equal(loaded.architecture.width, 0.125);
  loaded.encoder.dispose();
  const checkpoint = join(dir, 'step-00000001.safetensors');
  tidy(() => saveSafetensors(checkpoint, { w: tensor([1]) }, { format: 'simclr-checkpoint/1', config: '{not json', position: '{}', optimizer: '{}' }));
  assert.throws(() => readCheckpoint(checkpoint), new RegExp(`${checkpoint}: the checkpoint's config is unreadable`));
  tidy(() => saveSafetensors(checkpoint, { w: tensor([1]) }, { format: 'simclr-checkpoint/1', config: '{}', optimizer: '{}' }));
  assert.throws(() => readCheckpoint(checkpoint), /the checkpoint's position is unreadable \(missing\)/);
});

test('a missing file or a folder given as a safetensors file is a DataError naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-open-'));
  for (const [path, problem] of [[join(dir, 'missing.safetensors'), 'no such file'], [dir, 'a folder, not a file']] as const) {
    for (const read of [loadSafetensors, readSafetensorsHeader]) {
      assert.throws(() => read(path), (e: Error) => e instanceof DataError && e.message === `${path}: ${problem}`);
    }
  }
});

test("writeFileAtomic removes the temporaries a killed writer left beside the file, and no live writer's", () => {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout; // a pid now gone
  const left = `.out.bin.${dead}.k1.tmp`;
  const live = `.out.bin.${process.ppid}.k2.tmp`;
  const other = `.other.bin.${dead}.k3.tmp`;
  for (const f of [left, live, other]) writeFileSync(join(dir, f), 'torn');
  writeFileAtomic(join(dir, 'out.bin'), [Buffer.from('whole')]);
  assert.deepEqual(readdirSync(dir).sort(), [live, other, 'out.bin'].sort());
  assert.equal(readFileSync(join(dir, 'out.bin'), 'utf8'), 'whole');
});
