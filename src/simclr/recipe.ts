// The recipe: view size, stem, blur and colour strength, chosen to fit the data unless the user
// names them. Small images (thumbnails, CIFAR, Fashion-MNIST) train at their own size with the
// CIFAR stem (3×3 stride-1 convolution, no max-pool); photos get the photo recipe — the ImageNet
// stem (7×7 stride-2 convolution, 3×3 stride-2 max-pool), blur p 0.5 and a view of PHOTO_VIEW
// pixels, decided by the learning curve on a real photo set (docs/photos.md). The
// paper's and the anchors' recipes can be asked for by name. Every option given still wins.
import type { PretrainConfig, ResolvedConfig } from './config.js';

/** A recipe by name: auto (chosen by the data's image size) or one of the paper's and the anchors' named recipes. */
export type RecipeName = 'auto' | 'cifar10' | 'stl10' | 'imagenet';

/** The named recipes: CIFAR-10 as the paper trains it (32 px, s 0.5, no blur), STL-10 at 96 px, ImageNet at 224 px. */
export const RECIPES = {
  cifar10: { imageSize: 32, cifarStem: true, blur: 0, strength: 0.5 },
  stl10: { imageSize: 96, cifarStem: false, blur: 0.5, strength: 1 },
  imagenet: { imageSize: 224, cifarStem: false, blur: 0.5, strength: 1 },
} as const;

/** Images whose shorter side is at least this are photos; smaller ones train at their own size. */
export const PHOTO_MIN_SIDE = 64;
/** The photo recipe's view size (or the photos' own shorter side, when smaller). */
export const PHOTO_VIEW = 96;

/** What the run trains with, and why. */
export interface RecipeChoice {
  /** The recipe asked for. */
  recipe: RecipeName;
  /** 'photo' or 'small images' (auto), or the named recipe. */
  kind: string;
  /** View size in pixels. */
  imageSize: number;
  /** Whether the encoder uses the CIFAR stem (3×3 stride-1 conv, no max-pool). */
  cifarStem: boolean;
  /** Gaussian blur probability. */
  blur: number;
  /** Colour distortion strength s. */
  strength: number;
  /** The images' shorter side (the median of a sample for image folders). */
  imageSide: number;
  /** Why, in words (for the log and config.json). */
  reason: string;
}

/** The recipe for data whose images have `side` pixels on their shorter side (`sampled`: how many were looked at). */
export function chooseRecipe(c: Pick<PretrainConfig, 'recipe' | 'imageSize' | 'cifarStem' | 'blur' | 'strength'>, side: number, sampled: string): RecipeChoice {
  let base: Omit<RecipeChoice, 'reason' | 'imageSide' | 'recipe'>;
  let why: string;
  if (c.recipe !== 'auto') {
    base = { kind: c.recipe, ...RECIPES[c.recipe] };
    why = `--recipe ${c.recipe}`;
  } else if (side >= PHOTO_MIN_SIDE) {
    base = { kind: 'photo', imageSize: Math.min(PHOTO_VIEW, side), cifarStem: false, blur: 0.5, strength: 1 };
    why = `photos: ${sampled}, shorter side ${side} px (at least ${PHOTO_MIN_SIDE}); crops cut from the whole photo`;
  } else {
    base = { kind: 'small images', imageSize: side, cifarStem: true, blur: side > 32 ? 0.5 : 0, strength: 1 };
    why = `small images: ${sampled}, ${side} px (under ${PHOTO_MIN_SIDE}); views at their own size`;
  }
  const chosen = {
    imageSize: c.imageSize > 0 ? c.imageSize : base.imageSize,
    cifarStem: c.cifarStem ?? base.cifarStem,
    blur: c.blur >= 0 ? c.blur : base.blur,
    strength: c.strength >= 0 ? c.strength : base.strength,
  };
  const overridden = (['imageSize', 'cifarStem', 'blur', 'strength'] as const).filter((k) => chosen[k] !== base[k]);
  const reason = overridden.length === 0 ? why : `${why}; given: ${overridden.map((k) => `${k} ${chosen[k]}`).join(', ')}`;
  return { recipe: c.recipe, kind: base.kind, ...chosen, imageSide: side, reason };
}

/** The recipe's line before training. */
export function describeRecipe(r: RecipeChoice): string {
  return `recipe: ${r.kind} — ${r.imageSize} px views, ${r.cifarStem ? 'CIFAR' : 'ImageNet'} stem, blur p ${r.blur}, colour strength ${r.strength} (${r.reason})`;
}

/** The config with the recipe for `side`-pixel images applied (its expected epoch time unknown). */
export function applyRecipe(c: PretrainConfig, side: number, sampled = `${side}-px images`): ResolvedConfig {
  const r = chooseRecipe(c, side, sampled);
  return { ...c, imageSize: r.imageSize, cifarStem: r.cifarStem, blur: r.blur, strength: r.strength, recipeChoice: { ...r, expectedEpochSeconds: null } };
}
