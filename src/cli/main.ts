#!/usr/bin/env node
// The `simclr` command line.
import { setProgressOutput, streamOutput } from '../progress.js';
import { givenFlags, helpText, parseFlags, UsageError } from './args.js';
import { commands, commonFlags, usage } from './commands.js';
import { setEngine, type EngineChoice } from '../eval/engine.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) throw new UsageError(`unknown command '${name}'`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(helpText(name, command, commonFlags));
    return 0;
  }
  // Progress of long phases on stderr: a live line on a terminal, a plain line every 10 s otherwise.
  const quiet = rest.includes('--quiet');
  let flags = rest.filter((a) => a !== '--quiet');
  const positional: string[] = [];
  if (command.positional) while (flags.length > 0 && !flags[0]!.startsWith('--')) positional.push(flags.shift()!);
  setProgressOutput(quiet ? null : streamOutput(process.stderr), { plainIntervalSeconds: 10 });
  const options = parseFlags(flags, command.flags, name);
  if ('engine' in options) setEngine(options.engine as unknown as EngineChoice);
  return command.run(options, givenFlags(flags), positional);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`simclr: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`simclr: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
