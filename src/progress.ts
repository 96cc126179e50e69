// Progress of long phases (decoding a folder, extracting features, fitting a probe, fine-tuning):
// a live line with a rate and an ETA on a terminal, a plain line every few seconds otherwise.
// Library code reports through this module; nothing is printed until an output is set, which
// the simclr command does (stderr, or nothing with --quiet).

/** Where progress lines are written, set by {@link setProgressOutput}. */
export interface ProgressOutput {
  /** Whether lines may be redrawn in place (a terminal). */
  live: boolean;
  /** Writes text as it is (with its own newlines and carriage returns). */
  write(text: string): void;
}

let output: ProgressOutput | null = null;
/** Phases shorter than this leave no line behind. */
const QUICK_SECONDS = 2;
/** Seconds between plain (non-live) lines. */
let plainInterval = 5;

/** Where progress goes: null for nowhere (the default), or stderr as the CLI sets it. */
export function setProgressOutput(out: ProgressOutput | null, { plainIntervalSeconds = 5 } = {}): void {
  output = out;
  plainInterval = plainIntervalSeconds;
}

/** Where progress goes now (null: nowhere). */
export function progressOutput(): ProgressOutput | null {
  return output;
}

/** The stream's own choice: live on a terminal, plain lines otherwise. */
export function streamOutput(stream: NodeJS.WriteStream): ProgressOutput {
  return { live: stream.isTTY === true, write: (text) => stream.write(text) };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** A line that is not progress (a result, a phase starting), kept on screen above any live line. */
export function note(line: string): void {
  if (output === null) return;
  output.write(output.live ? `\r${line}\x1b[K\n` : `${line}\n`);
}

/** A long phase's progress: a live line with rate and ETA on a terminal, a plain line every few seconds otherwise. */
export class Task {
  readonly #label: string;
  readonly #total: number;
  readonly #unit: string;
  readonly #began = performance.now();
  #lastDraw = -Infinity;
  #lastPlain: number;
  #done = 0;
  #detail = '';
  #ended = false;

  /** A phase of `total` units (0: unknown). */
  constructor(label: string, { total = 0, unit = '' }: { total?: number; unit?: string } = {}) {
    this.#label = label;
    this.#total = total;
    this.#unit = unit;
    this.#lastPlain = this.#began;
    this.#draw(true);
  }

  /** `done` units finished so far, with an optional detail (e.g. the best accuracy so far). */
  update(done: number, detail = this.#detail): void {
    this.#done = done;
    this.#detail = detail;
    this.#draw(false);
  }

  /** Ends the phase with a summary line (on a terminal it replaces the live line); quick phases leave no line. */
  end(summary = ''): void {
    if (this.#ended) return;
    this.#ended = true;
    if (output === null) return;
    const seconds = (performance.now() - this.#began) / 1000;
    if (seconds < QUICK_SECONDS) {
      if (output.live) output.write('\r\x1b[K');
      return;
    }
    const line = `${this.#label}: ${summary ? `${summary}, ` : ''}${formatDuration(seconds)}`;
    output.write(output.live ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  #line(): string {
    const seconds = (performance.now() - this.#began) / 1000;
    const parts = [this.#label];
    if (this.#total > 0) {
      parts.push(`${this.#done}/${this.#total}${this.#unit ? ` ${this.#unit}` : ''} (${Math.floor((100 * this.#done) / this.#total)}%)`);
      if (this.#done > 0 && seconds > 0.5) parts.push(`ETA ${formatDuration((seconds / this.#done) * (this.#total - this.#done))}`);
    } else if (this.#done > 0) {
      parts.push(`${this.#done}${this.#unit ? ` ${this.#unit}` : ''}`);
    }
    if (this.#detail) parts.push(this.#detail);
    parts.push(formatDuration(seconds));
    return parts.join(' · ');
  }

  #draw(first: boolean): void {
    if (output === null || this.#ended) return;
    const now = performance.now();
    if (output.live) {
      if (!first && now - this.#lastDraw < 100) return;
      this.#lastDraw = now;
      output.write(`\r${this.#line()}\x1b[K`);
    } else if (now - this.#lastPlain >= plainInterval * 1000) {
      this.#lastPlain = now;
      output.write(`${this.#line()}\n`);
    }
  }
}

/** Runs fn as a task, ending it (with the summary fn's result gives) however fn ends. */
export async function withTask<T>(label: string, options: { total?: number; unit?: string }, fn: (task: Task) => Promise<T> | T, summary?: (result: T) => string): Promise<T> {
  const task = new Task(label, options);
  try {
    const result = await fn(task);
    task.end(summary?.(result) ?? '');
    return result;
  } catch (e) {
    task.end('failed');
    throw e;
  }
}

/** A warning: always shown (also with --quiet), on its own line below any live line. */
export function warning(line: string): void {
  process.stderr.write(output?.live ? `\r${line}\x1b[K\n` : `${line}\n`);
}
