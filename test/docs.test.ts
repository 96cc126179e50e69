// The documentation as it ships: docs/cli.md is what the flag tables generate, the API reference builds with
// TypeDoc's validation (every exported symbol documented, no broken {@link}), and no relative link is broken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { cliReference } from '../src/cli/reference.js';
import { repoRoot } from './helpers.js';

test('docs/cli.md is what the flag tables generate (npm run docs:cli rewrites it)', () => {
  assert.equal(readFileSync(join(repoRoot, 'docs', 'cli.md'), 'utf8'), cliReference());
});

test('the API reference builds with TypeDoc, validation on, without a warning', { timeout: 300_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'simclr-api-'));
  // typedoc.json treats warnings as errors: an undocumented export or a broken {@link} makes it exit non-zero.
  const log = execFileSync(process.execPath, [join(repoRoot, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: repoRoot, encoding: 'utf8' });
  assert.doesNotMatch(log, /warning|error/i);
  assert.ok(existsSync(join(out, 'index.html')));
  assert.ok(existsSync(join(out, 'functions', 'ntXentLoss.html')));
});

/** GitHub's anchor of a heading: lower case, punctuation but - and _ dropped, spaces as -; repeats get -1, -2, … */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of withoutCode(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = text!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The Markdown without fenced code blocks and inline code, where brackets are not links. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, (code) => code.replace(/[[\]()]/g, ' '));
}

function markdownFiles(): string[] {
  const docs = join(repoRoot, 'docs');
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (path === join(docs, 'api')) return []; // TypeDoc's output, not committed
      return statSync(path).isDirectory() ? walk(path) : name.endsWith('.md') ? [path] : [];
    });
  return [join(repoRoot, 'README.md'), ...walk(docs), ...readdirSync(join(repoRoot, 'examples')).filter((n) => n.endsWith('.md')).map((n) => join(repoRoot, 'examples', n))];
}

test('no relative link in README.md or docs/ is broken (files and #anchors)', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    const text = readFileSync(file, 'utf8');
    for (const [, target] of withoutCode(text).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (/^[a-z][a-z+.-]*:/i.test(target!)) continue; // http:, https:, mailto:
      checked++;
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      const where = `${relative(repoRoot, file)}: ${target}`;
      if (!existsSync(dest)) broken.push(`${where} (no such file)`);
      else if (anchor !== undefined && dest.endsWith('.md') && !anchors(readFileSync(dest, 'utf8')).has(anchor)) broken.push(`${where} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked > 10, `only ${checked} links found: the link pattern is wrong`);
});

test("the README's library example runs as written", { timeout: 120_000 }, () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const code = /## The library\n+```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
  assert.ok(code, 'no ```ts block under "## The library"');
  // (inside the package's folder, so that `from 'simclr'` resolves to this build as in a user's project)
  const file = join(repoRoot, 'dist', 'readme-example.mjs');
  writeFileSync(file, code);
  const lines = execFileSync(process.execPath, [file], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(lines.length, 10);
  lines.forEach((line, i) => {
    const [step, loss] = line.split(' ').map(Number);
    assert.equal(step, i);
    // NT-Xent over 512 views starts near log(511) = 6.24 and stays finite.
    assert.ok(Number.isFinite(loss) && loss! > 3 && loss! < 7, line);
  });
});
