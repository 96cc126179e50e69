// Where the time goes: libtorch's autograd profiler around a function. Every operator the dispatcher
// runs (forward, and backward inside the autograd engine's spans) is paired into a span per thread;
// a span's self time is its duration minus the spans inside it. Named ranges (profileRange) mark
// phases; self times are totalled per operator, per phase and per kind of work.
import { native } from './native.js';

export interface OperatorTime {
  name: string;
  /** The kind of work (kindOf). */
  kind: string;
  /** The innermost named range it ran in ('' outside every range). */
  phase: string;
  calls: number;
  selfMs: number;
}

/** The names given to profileRange: spans with these names are phases, not operators. */
const phases = new Set<string>();

/** Runs `fn` inside a named range (a phase) of the profile; costs next to nothing when the profiler is off. */
export function profileRange<T>(name: string, fn: () => T): T {
  phases.add(name);
  const id = native.profilerRangeStart(name);
  try {
    return fn();
  } finally {
    native.profilerRangeEnd(id);
  }
}

/** The kind of work an operator does, from its name. */
export function kindOf(name: string): string {
  const n = name.replace(/^autograd::engine::evaluate_function: /, '').toLowerCase();
  if (n !== name.toLowerCase()) return 'autograd engine';
  if (/conv|mkldnn_convolution/.test(n)) return 'convolution';
  if (/batch_norm|batchnorm/.test(n)) return 'batch norm';
  if (/^aten::(copy_|contiguous|to|_to_copy|clone|empty_like|as_strided|view|reshape|permute|transpose|t|expand|narrow|slice|select|unsqueeze|squeeze|flatten|cat|split|chunk|detach|alias)$/.test(n)) return 'layout and copies';
  if (/^aten::(mm|addmm|matmul|linear|bmm)$/.test(n) || /^(mm|addmm)backward/.test(n)) return 'matrix products';
  if (/^aten::(empty|zeros|ones|full|zero_|fill_|resize_|empty_strided)$/.test(n)) return 'allocation and fill';
  if (/pool/.test(n)) return 'pooling';
  return 'elementwise and other';
}

/** Profiles `fn` (libtorch's CPU profiler); returns the self time of every operator by phase, largest first. */
export function profile(fn: () => void): OperatorTime[] {
  native.profilerStart();
  let events: { names: string[]; kinds: string[]; threads: number[]; times: Float64Array };
  try {
    fn();
  } finally {
    events = native.profilerStop();
  }
  const totals = new Map<string, OperatorTime>();
  const stacks = new Map<number, { name: string; start: number; children: number; range: boolean }[]>();
  for (let i = 0; i < events.names.length; i++) {
    const thread = events.threads[i]!;
    const stack = stacks.get(thread) ?? [];
    stacks.set(thread, stack);
    const time = events.times[i]!;
    if (events.kinds[i] === 'push') {
      stack.push({ name: events.names[i]!, start: time, children: 0, range: false });
    } else if (events.kinds[i] === 'pop') {
      const span = stack.pop();
      if (span === undefined) continue;
      const duration = time - span.start;
      const parent = stack.at(-1);
      if (parent !== undefined) parent.children += duration;
      if (phases.has(span.name)) continue; // a phase itself: its operators carry its time
      const phase = [...stack].reverse().find((s) => phases.has(s.name))?.name ?? '';
      const key = `${phase}\0${span.name}`;
      const entry = totals.get(key) ?? { name: span.name, kind: kindOf(span.name), phase, calls: 0, selfMs: 0 };
      entry.calls++;
      entry.selfMs += (duration - span.children) / 1000;
      totals.set(key, entry);
    }
  }
  return [...totals.values()].sort((a, b) => b.selfMs - a.selfMs);
}
