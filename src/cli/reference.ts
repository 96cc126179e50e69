// docs/cli.md: every command's flags, defaults and help, generated from the flag tables so it cannot drift.
import { describeFlag } from './args.js';
import { commands, commonFlags } from './commands.js';

const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The Markdown reference of the command line (what `npm run docs:cli` writes to docs/cli.md). */
export function cliReference(): string {
  const out = [
    '# Command-line reference',
    '',
    '<!-- Generated from src/cli by `npm run docs:cli`; a test fails when this file is out of date. -->',
    '',
    'Every command prints its flags with `simclr <command> --help`. Flags take `--name value` or `--name=value`;',
    'a boolean flag stands alone (`--resume`) or is negated (`--no-resume`). Every command also takes',
    ...Object.entries(commonFlags).map(([name, flag]) => `\`--${name}\`: ${flag.help}.`),
    '',
    ...Object.entries(commands).map(([name]) => `- [simclr ${name}](#simclr-${name})`),
  ];
  for (const [name, command] of Object.entries(commands)) {
    out.push('', `## simclr ${name}`, '', '```', `simclr ${name}${command.positional ? ` ${command.positional}` : ''} [flags]`, '```', '', command.summary, '');
    const flags = Object.entries(command.flags);
    if (flags.length === 0) {
      out.push('No flags of its own.');
      continue;
    }
    out.push('| flag | default | what it does |', '| --- | --- | --- |');
    for (const [flagName, flag] of flags) {
      const d = describeFlag(flagName, flag);
      out.push(`| \`${cell(d.usage)}\` | ${cell(d.default)} | ${cell(flag.help)} |`);
    }
  }
  return `${out.join('\n')}\n`;
}
