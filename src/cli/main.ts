#!/usr/bin/env node
// The `simclr` command line.
import { info } from '../info.js';

const usage = `usage: simclr <command> [options]

commands:
  info      libtorch version and path, BLAS, threads, devices (JSON)
  help      this text
`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  switch (command) {
    case 'info':
      if (rest.length > 0) throw new UsageError(`info takes no arguments (got ${rest.join(' ')})`);
      console.log(JSON.stringify(info(), null, 2));
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

class UsageError extends Error {}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`simclr: ${e.message}\n\n${usage}`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`simclr: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
