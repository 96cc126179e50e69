// Writes docs/cli.md from the flag tables: node dist/scripts/cli-docs.js (npm run docs:cli).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cliReference } from '../src/cli/reference.js';

const path = fileURLToPath(new URL('../../docs/cli.md', import.meta.url));
writeFileSync(path, cliReference());
console.log(`wrote ${path}`);
