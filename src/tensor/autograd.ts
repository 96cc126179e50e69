// Autograd entry points: grad-mode regions, autocast, torch.autograd.grad / backward.
import { native } from '../native.js';
import { handles, optionalHandles, Tensor } from './tensor.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Runs `fn` without recording operations for autograd. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with autograd recording on (inside a noGrad region, for instance). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/**
 * Runs `fn` under CPU autocast (torch.autocast('cpu', dtype)): convolutions and matmuls run in
 * bfloat16, precision-sensitive ops stay in float32. Worth it on CPUs with AVX512-BF16 or AMX.
 */
export function autocast<T>(fn: () => T, dtype: 'bfloat16' = 'bfloat16'): T {
  const previous = native.setAutocast(true, dtype);
  try {
    return fn();
  } finally {
    native.setAutocast(previous);
  }
}

/** Whether autograd records operations here (false inside {@link noGrad}). */
export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

/**
 * Gradients of `outputs` with respect to `inputs` (torch.autograd.grad): returned, not accumulated.
 * A null entry means the input is not reachable (only with allowUnused).
 */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: readonly Tensor[],
  {
    gradOutputs,
    retainGraph = false,
    createGraph = false,
    allowUnused = false,
  }: { gradOutputs?: readonly (Tensor | null)[]; retainGraph?: boolean; createGraph?: boolean; allowUnused?: boolean } = {},
): (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const result = native.gradients(
    handles(outs),
    handles(inputs),
    gradOutputs ? optionalHandles(gradOutputs) : outs.map(() => null),
    retainGraph || createGraph,
    createGraph,
    allowUnused,
  );
  return result.map((h) => (h === null ? null : new Tensor(h)));
}

/** Back-propagates from several outputs at once (torch.autograd.backward). */
export function backward(outputs: readonly Tensor[], gradients?: readonly (Tensor | null)[], { retainGraph = false } = {}): void {
  native.backward(handles(outputs), gradients ? optionalHandles(gradients) : outputs.map(() => null), retainGraph, false);
}
