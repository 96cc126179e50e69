// Checkpoints (simclr-checkpoint/1) and encoder files (simclr-encoder/1), as loadEncoder and
// readCheckpoint read them: the architecture and config from the metadata, the weights by name.
// The input is the safetensors header only (JSON: the tensors' names, dtypes, shapes, offsets and
// the metadata); the target adds the length before it and after it the data the header's offsets
// reach, cut from a fixed block of weights (so that every mutation reaches the checkpoint's own
// checks rather than the container's, which the safetensors target covers). What is accepted must
// be an encoder that runs on an image of its channels, and a position a resume can use.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEncoder } from '../../src/simclr/encoder-file.js';
import { readCheckpoint } from '../../src/simclr/checkpoint.js';
import { zeros } from '../../src/tensor/create.js';
import { noGrad, tidy } from '../../src/tensor/tensor.js';
import { check, refuseOnly, scratch } from '../contract.js';
import { fileOf } from '../checkpoint-file.js';

const dir = scratch('checkpoint');
const file = join(dir, 'step-00000001.safetensors');

export function fuzz(data: Buffer): void {
  writeFileSync(file, fileOf(data));
  const loaded = refuseOnly(dir, () => loadEncoder(file));
  if (loaded !== undefined) {
    try {
      const { inChannels } = loaded.architecture;
      const h = noGrad(() => tidy(() => loaded.encoder.eval().forward(zeros([1, inChannels, 32, 32]).contiguous('channels_last')).shape));
      check(h.length === 2 && h[0] === 1 && h[1]! > 0, `the encoder gives h of shape [${h.join(', ')}]`);
    } finally {
      (loaded.model ?? loaded.encoder).dispose();
    }
  }
  const checkpoint = refuseOnly(dir, () => readCheckpoint(file));
  if (checkpoint === undefined) return;
  try {
    const { epoch, step, globalStep } = checkpoint.position;
    const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    check(count(epoch) && count(step) && count(globalStep), `position ${JSON.stringify(checkpoint.position)} is not a place in a schedule`);
  } finally {
    checkpoint.dispose();
  }
}
