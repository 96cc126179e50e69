// Flag parsing for the simclr commands: --name value, --name=value, --flag / --no-flag, and -x for
// a flag whose name is the single letter x.
// Every flag is declared with its type, default and help; anything else is an error naming it.

export class UsageError extends Error {}

export type FlagType = 'string' | 'number' | 'int' | 'boolean';

export interface Flag {
  type: FlagType;
  help: string;
  default?: string | number | boolean | null;
  /** How --help shows the default, when its value alone would not say it (e.g. "from the recipe"). */
  defaultText?: string;
  choices?: readonly string[];
  /** Checks a parsed value; returns an error message or null. */
  check?: (value: number) => string | null;
}

export type Flags = Record<string, Flag>;

export type Parsed<F extends Flags> = {
  [K in keyof F]: F[K]['type'] extends 'boolean' ? boolean : F[K]['type'] extends 'string' ? string : number;
};

function convert(name: string, flag: Flag, raw: string): string | number | boolean {
  switch (flag.type) {
    case 'string':
      if (flag.choices && !flag.choices.includes(raw)) throw new UsageError(`--${name} expects one of ${flag.choices.join(', ')} (got '${raw}')`);
      return raw;
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw new UsageError(`--${name} expects true or false (got '${raw}')`);
    case 'int':
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} expects a number (got '${raw}')`);
      if (flag.type === 'int' && !Number.isInteger(v)) throw new UsageError(`--${name} expects an integer (got '${raw}')`);
      if (flag.type === 'int' && !Number.isSafeInteger(v)) throw new UsageError(`--${name} expects an integer within ±2^53 (got '${raw}')`);
      const problem = flag.check?.(v);
      if (problem) throw new UsageError(`--${name} ${problem} (got ${raw})`);
      return v;
    }
  }
}

/** Parses argv against the flags; missing flags get their defaults (required ones have none). */
export function parseFlags<F extends Flags>(argv: readonly string[], flags: F, command: string): Parsed<F> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const short = /^-[a-zA-Z]$/.test(arg) && arg.slice(1) in flags;
    if (!arg.startsWith('--') && !short) throw new UsageError(`${command}: unexpected argument '${arg}' (flags start with --)`);
    let name = arg.slice(short ? 1 : 2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) [name, value] = [name.slice(0, eq), name.slice(eq + 1)];
    let flag = flags[name];
    if (flag === undefined && name.startsWith('no-') && flags[name.slice(3)]?.type === 'boolean' && value === undefined) {
      out[name.slice(3)] = false;
      continue;
    }
    if (flag === undefined) throw new UsageError(`${command}: unknown flag --${name} (see simclr ${command} --help)`);
    if (value === undefined) {
      // A boolean flag stands alone (--resume) or takes an explicit true/false (--resume false), as --help's <boolean> says.
      if (flag.type === 'boolean') value = argv[i + 1] === 'true' || argv[i + 1] === 'false' ? argv[++i]! : 'true';
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new UsageError(`--${name} needs a value`);
    }
    out[name] = convert(name, flag, value);
  }
  for (const [name, flag] of Object.entries(flags)) {
    if (name in out) continue;
    if (flag.default === undefined) throw new UsageError(`${command}: --${name} is required (${flag.help})`);
    out[name] = flag.default;
  }
  return out as Parsed<F>;
}

/** How a flag's values and default read in --help and docs/cli.md. */
export function describeFlag(name: string, flag: Flag): { usage: string; default: string } {
  const kind = flag.choices ? flag.choices.join('|') : flag.type;
  const value = flag.defaultText ?? (flag.default === null || flag.default === '' ? 'none' : String(flag.default));
  return { usage: `--${name} <${kind}>`, default: flag.default === undefined ? 'required' : value };
}

/** The --help text: the usage line, the summary, then every flag with its type, help and default, in aligned columns. */
export function helpText(command: string, spec: { summary: string; flags: Flags; positional?: string }, common: Flags): string {
  const rows = Object.entries({ ...spec.flags, ...common }).map(([name, flag]) => {
    const d = describeFlag(name, flag);
    return [`  ${d.usage}`, `${flag.help} (${d.default === 'required' ? 'required' : `default: ${d.default}`})`] as const;
  });
  // One column for the help; a flag too long for it (a long list of choices) puts its help on the next line.
  const column = Math.min(Math.max(...rows.map(([left]) => left.length)), 36) + 2;
  const lines = rows.map(([left, help]) => (left.length + 2 <= column ? left.padEnd(column) + help : `${left}\n${' '.repeat(column)}${help}`));
  const args = spec.positional ? ` ${spec.positional}` : '';
  return `usage: simclr ${command}${args} [flags]\n\n${spec.summary}\n\nflags:\n${lines.join('\n')}\n`;
}

/** The flags named on the command line (not defaulted), for layering over a config file. */
export function givenFlags(argv: readonly string[]): Set<string> {
  const given = new Set<string>();
  for (const arg of argv) {
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=')[0]!;
    given.add(name.startsWith('no-') ? name.slice(3) : name);
  }
  return given;
}
