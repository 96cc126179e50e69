// Ownership scopes: tidy() / keep() / dispose(), and the memory figures.
import { native } from '../native.js';
import type { Tensor } from './tensor.js';

// V8 runs finalizers only when the event loop turns, so a synchronous training loop cannot
// rely on them: tensors belong to the innermost tidy() scope and die when it ends. Tensors
// outside any scope are left to the GC (a finalizer frees them) and their bytes are reported
// to V8, so it collects them in time; scoped ones are not reported, so a training step's
// activations cause no collections.

/** The tensors owned by one open tidy() scope. */
export type Scope = Set<Tensor>;
const scopes: Scope[] = [];
/** Each tensor's own field naming its scope; also how a value is recognised as a tensor here (this module cannot import the class: tensor.ts needs it first). */
export const scopeOf = Symbol('scope');

/** The innermost open scope, if any. */
export function currentScope(): Scope | undefined {
  return scopes[scopes.length - 1];
}

type Tensors = Tensor | readonly Tensors[] | { readonly [key: string]: Tensors } | unknown;

function collect(value: Tensors, into: Set<Tensor>, depth = 0): void {
  if (value !== null && typeof value === 'object' && scopeOf in value) into.add(value as Tensor);
  // (a typed array holds no tensors: walking its millions of values would cost more than the scope's work)
  else if (depth < 8 && value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    for (const v of Array.isArray(value) ? value : Object.values(value)) collect(v, into, depth + 1);
  }
}

/**
 * Runs `fn` in a scope: every tensor created inside is disposed when it returns, except the
 * tensors it returns (also inside arrays and plain objects) and those passed to keep().
 * Returned tensors move to the enclosing scope. Scopes nest.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy() takes a synchronous function: tensors cannot outlive an await inside a scope');
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (!survivors.has(t)) {
      t.dispose();
    } else if (parent !== undefined) {
      t[scopeOf] = parent;
      parent.add(t);
    } else {
      t[scopeOf] = undefined;
      native.reportToGc(t.handle);
    }
  }
  return result;
}

/** Exempts a tensor from disposal by the enclosing tidy() scopes; the caller then owns it. */
export function keep<T extends Tensor>(t: T): T {
  t[scopeOf]?.delete(t);
  t[scopeOf] = undefined;
  native.reportToGc(t.handle);
  return t;
}

/** Disposes tensors found in a value (a tensor, an array or a plain object of them). */
export function dispose(value: Tensors): void {
  const found = new Set<Tensor>();
  collect(value, found);
  for (const t of found) t.dispose();
}

/**
 * Live tensor handles, the bytes of their (distinct) storages, and the idle bytes the caching
 * allocator keeps for reuse (emptyCache() returns them to the system).
 */
export function memory(): {
  /** Live tensor handles. */
  tensors: number;
  /** Bytes of the distinct storages those tensors hold. */
  bytes: number;
  /** Idle bytes the caching allocator keeps for reuse. */
  cachedBytes: number;
  /** The most idle bytes the caching allocator keeps. */
  cacheLimit: number;
} {
  return { ...native.memory(), cachedBytes: native.cachedBytes(), cacheLimit: native.cacheLimit() };
}

/** Returns the caching allocator's idle blocks and the free pages of the C heap to the system. */
export function emptyCache(): void {
  native.trimCache();
}
