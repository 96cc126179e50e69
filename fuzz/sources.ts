// What a data source that a reader accepted must hold (source.ts's DataSource): the sizes agree,
// every label indexes a class (and a class name, when there are names), and its images load as
// uint8 [n, C, H, W].
import type { DataSource } from '../src/data/source.js';
import { check } from './contract.js';

/** Checks a source's promises, then disposes of it. */
export async function checkSourceAsync(source: DataSource): Promise<void> {
  try {
    const { size, labels, classNames, imageShape } = source;
    check(Number.isSafeInteger(size) && size >= 0, `${source.description}: size ${size}`);
    check(imageShape.length === 3 && imageShape.every((d) => Number.isSafeInteger(d) && d > 0), `${source.description}: image shape [${imageShape.join(', ')}]`);
    if (labels !== null) {
      check(labels.length === size, `${source.description}: ${labels.length} labels for ${size} images`);
      const bad = labels.findIndex((l) => l < 0 || (classNames !== null && l >= classNames.length));
      check(bad < 0, `${source.description}: image ${bad} has label ${labels[bad]}, outside its ${classNames?.length ?? 0} class names`);
    } else check(classNames === null, `${source.description}: class names without labels`);
    if (classNames !== null) check(classNames.every((n) => typeof n === 'string'), `${source.description}: a class name is not a string`);
    if (size === 0) return;
    const pick = [0, size - 1];
    const images = await source.load(pick);
    try {
      const want = [pick.length, ...imageShape];
      check(images.dtype === 'uint8' && images.shape.join() === want.join(), `${source.description}: load gave ${images.dtype} [${images.shape.join(', ')}], not uint8 [${want.join(', ')}]`);
    } finally {
      images.dispose();
    }
  } finally {
    source.dispose?.();
  }
}

/** {@link checkSourceAsync} for sources held in memory (synchronous loading). */
export function checkSource(source: DataSource): void {
  try {
    const { size, labels, classNames } = source;
    check(labels === null || labels.length === size, `${source.description}: ${labels?.length} labels for ${size} images`);
    const bad = labels === null ? -1 : labels.findIndex((l) => l < 0 || (classNames !== null && l >= classNames.length));
    check(bad < 0, `${source.description}: image ${bad} has label ${labels?.[bad]}, outside its ${classNames?.length ?? 0} class names`);
    if (size === 0 || source.loadSync === undefined) return;
    const images = source.loadSync([0, size - 1]);
    try {
      const want = [2, ...source.imageShape];
      check(images.dtype === 'uint8' && images.shape.join() === want.join(), `${source.description}: load gave ${images.dtype} [${images.shape.join(', ')}], not uint8 [${want.join(', ')}]`);
    } finally {
      images.dispose();
    }
  } finally {
    source.dispose?.();
  }
}
