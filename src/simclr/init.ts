// Continued pretraining (pretrain --init): a new run whose encoder starts from weights a user
// already has: a run folder, a pretraining checkpoint, an encoder file, or torchvision-named
// weights written by PyTorch (a ResNet's state_dict saved with safetensors). The projection head
// starts fresh unless asked for (a checkpoint's), the optimizer and schedule always do. Keys must
// fit the encoder exactly unless a partial load is asked for, which says what it left out; a stem
// for 1-channel images serves 3-channel ones and back the usual way (conv1 replicated and divided
// by 3, or summed over its input channels), which gives a gray image the same h either way.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, readSafetensorsHeader } from '../io/safetensors.js';
import { DataError } from '../data/source.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { listCheckpoints } from './checkpoint.js';
import type { SimCLRModel } from './model.js';
import type { Architecture } from './encoder-file.js';
import { resnet, type ResNet } from '../models/resnet.js';

/** Where a run's weights came from, as config.json and the report record it. */
export interface InitRecord {
  /** What --init named. */
  from: string;
  /** The file read. */
  file: string;
  /** The first 16 hex digits of that file's SHA-256. */
  sha256: string;
  /** How many of the encoder's (and the head's) tensors were loaded. */
  loaded: {
    /** The encoder's tensors loaded. */
    encoder: number;
    /** The head's tensors loaded (0 without --init-head). */
    head: number;
  };
  /** A partial load: the encoder's tensors left at their fresh initialisation (absent from the file or of another shape). */
  fresh?: string[];
  /** A partial load: the file's tensors not used (no such tensor in the encoder, or of another shape). */
  unused?: string[];
  /** conv1 adapted to the input channels, in words. */
  adapted?: string;
}

/** Options of {@link initialiseFrom}. */
export interface InitOptions {
  /** Also load the projection head (a pretraining checkpoint's, or a run folder's newest). */
  head?: boolean;
  /** Load the tensors that fit and list the others, instead of refusing. */
  partial?: boolean;
}

/** The file --init names: a run folder's newest checkpoint (else its encoder.safetensors), or the file itself (checked before a run opens its data). */
export function initFile(from: string, head: boolean): string {
  if (!existsSync(from)) throw new DataError(from, 'no such run folder, checkpoint or weights file (--init)');
  if (!statSync(from).isDirectory()) return from;
  const checkpoints = listCheckpoints(from);
  if (checkpoints.length > 0) return checkpoints[0]!;
  if (head) throw new DataError(from, 'no checkpoint in this run folder: --init-head needs one (an encoder file has no head)');
  if (existsSync(join(from, 'encoder.safetensors'))) return join(from, 'encoder.safetensors');
  throw new DataError(from, 'no checkpoints/ or encoder.safetensors in this folder (--init)');
}

const shapeOf = (t: Tensor) => `[${t.shape.join(', ')}]`;
const listed = (keys: string[]) => (keys.length <= 8 ? keys.join(', ') : `${keys.slice(0, 8).join(', ')} and ${keys.length - 8} more`);

/**
 * Loads `source` into `target` (a module's state dict): every key and shape must match, but for
 * conv1.weight, which may differ in input channels 1 ↔ 3. Returns what was loaded and left. (Run
 * inside tidy(): an adapted conv1 is a temporary.)
 */
function loadInto(file: string, part: string, target: Map<string, Tensor>, source: Map<string, Tensor>, partial: boolean) {
  const fresh: string[] = [];
  const misShaped: string[] = [];
  let adapted: string | undefined;
  const values = new Map<string, Tensor>();
  for (const [key, t] of target) {
    const s = source.get(key);
    if (s === undefined) fresh.push(key);
    else if (s.shape.length === t.shape.length && s.shape.every((d, i) => d === t.shape[i])) values.set(key, s);
    else if (key === 'conv1.weight' && part === 'encoder' && s.ndim === 4 && s.size(0) === t.size(0) && s.size(2) === t.size(2) && s.size(3) === t.size(3) && [1, 3].includes(s.size(1)) && [1, 3].includes(t.size(1))) {
      // 1 → 3: each channel w/3 (a gray image replicated gives Σ w/3·g = w·g); 3 → 1: the channels summed
      values.set(key, s.size(1) === 1 ? s.div(3).expand(t.shape).contiguous() : s.sum(1, true));
      adapted = s.size(1) === 1 ? 'conv1 from 1 input channel to 3: its weights replicated and divided by 3' : 'conv1 from 3 input channels to 1: its weights summed over them';
    } else misShaped.push(`${key} (${shapeOf(s)} in the file, ${shapeOf(t)} here)`);
  }
  const unexpected = [...source.keys()].filter((k) => !target.has(k));
  if (!partial && (fresh.length > 0 || unexpected.length > 0 || misShaped.length > 0)) {
    const parts = [
      ...(fresh.length ? [`missing ${listed(fresh)}`] : []),
      ...(unexpected.length ? [`unexpected ${listed(unexpected)}`] : []),
      ...(misShaped.length ? [`of another shape ${listed(misShaped)}`] : []),
    ];
    throw new DataError(file, `does not fit the ${part} being trained (${parts.join('; ')}): --init-partial loads the tensors that fit and lists the others`);
  }
  noGrad(() => {
    for (const [key, v] of values) target.get(key)!.copy_(v);
  });
  return { loaded: values.size, fresh: [...fresh, ...misShaped.map((m) => m.split(' ')[0]!)], unused: [...unexpected, ...misShaped.map((m) => m.split(' ')[0]!)], adapted };
}

/**
 * Initialises a fresh model's encoder (and head, when asked) from `from`: a run folder, a
 * pretraining checkpoint, an encoder file, or torchvision-named ResNet weights (safetensors).
 * A file that does not fit is refused naming its keys, unless `partial`.
 */
export function initialiseFrom(model: SimCLRModel, from: string, { head = false, partial = false }: InitOptions = {}): InitRecord {
  const file = initFile(from, head);
  // (read once: the same bytes give the tensors and the fingerprint)
  const bytes = readFileSync(file);
  const { tensors, metadata } = parseSafetensors(bytes, file);
  try {
    const checkpoint = metadata.format === 'simclr-checkpoint/1';
    const part = (prefix: string) => new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    const encoderSource = checkpoint ? part('model.encoder.') : tensors;
    if (head && !checkpoint) throw new DataError(file, '--init-head needs a pretraining checkpoint (this file holds no head)');
    const encoder = tidy(() => loadInto(file, 'encoder', model.encoder.stateDict(), encoderSource, partial));
    const headLoad = head ? tidy(() => loadInto(file, 'projection head', model.head.stateDict(), part('model.head.'), partial)) : null;
    const fresh = [...encoder.fresh, ...(headLoad?.fresh.map((k) => `head.${k}`) ?? [])];
    const unused = [...encoder.unused, ...(headLoad?.unused.map((k) => `head.${k}`) ?? [])];
    return {
      from,
      file,
      sha256: createHash('sha256').update(bytes).digest('hex').slice(0, 16),
      loaded: { encoder: encoder.loaded, head: headLoad?.loaded ?? 0 },
      ...(partial ? { fresh, unused } : {}),
      ...(encoder.adapted === undefined ? {} : { adapted: encoder.adapted }),
    };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** An encoder for images of given channels, from {@link withInputChannels}. */
export interface AdaptedEncoder {
  /** The encoder itself, or an adapted copy. */
  encoder: ResNet;
  /** The adaptation in words; null when the encoder took those channels already. */
  adapted: string | null;
}

/**
 * The encoder for images of `channels` channels: itself when it takes them, else a copy whose
 * conv1 is adapted 1 ↔ 3 as --init adapts it (transfer scores a colour encoder on gray images and
 * back). The copy is owned by the caller.
 */
export function withInputChannels(encoder: ResNet, channels: number): AdaptedEncoder {
  if (encoder.options.inChannels === channels) return { encoder, adapted: null };
  const { depth, cifarStem, widthMultiplier } = encoder.options;
  const copy = resnet(depth, { cifarStem, widthMultiplier, inChannels: channels }).to({ memoryFormat: 'channels_last' });
  try {
    const { adapted } = tidy(() => loadInto(`the ${encoder.options.inChannels}-channel encoder`, 'encoder', copy.stateDict(), encoder.stateDict(), false));
    return { encoder: copy, adapted: adapted! };
  } catch (e) {
    copy.dispose();
    throw e;
  }
}

/** The architecture the weights --init names record (a checkpoint's config, an encoder file's metadata); null for torchvision-named weights. */
export function initArchitecture(from: string): Pick<Architecture, 'depth' | 'width' | 'cifarStem'> | null {
  const file = initFile(from, false);
  const { metadata } = readSafetensorsHeader(file);
  if (metadata.format === 'simclr-encoder/1') return { depth: Number(metadata.depth) as Architecture['depth'], width: Number(metadata.width), cifarStem: metadata.cifarStem === 'true' };
  if (metadata.format !== 'simclr-checkpoint/1') return null;
  const c = JSON.parse(metadata.config ?? '{}') as Partial<Architecture>;
  return typeof c.depth === 'number' && typeof c.width === 'number' && typeof c.cifarStem === 'boolean' ? { depth: c.depth, width: c.width, cifarStem: c.cifarStem } : null;
}

/** The record in words, for the run's output and report. */
export function describeInit(r: InitRecord): string {
  const what = `${r.loaded.encoder} encoder tensors${r.loaded.head > 0 ? ` and ${r.loaded.head} of the head` : ''}`;
  const left = r.fresh !== undefined && (r.fresh.length > 0 || (r.unused?.length ?? 0) > 0) ? `; partial: fresh ${r.fresh.length > 0 ? listed(r.fresh) : 'none'}, unused ${r.unused!.length > 0 ? listed(r.unused!) : 'none'}` : '';
  return `started from ${r.file} (sha256 ${r.sha256}): ${what}${left}${r.adapted ? `; ${r.adapted}` : ''}`;
}
