// simclr serve-web as a user's browser (and an attacker's script) meets it: path tricks refused, only GET and
// HEAD, and a load of concurrent requests on loopback with no failure and no growth of the server's memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { repoRoot } from './helpers.js';

interface LoadResult {
  requests: { total: number; average: number };
  latency: { p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (o: Record<string, unknown>) => Promise<LoadResult>;

/** One raw HTTP/1.1 request (the path sent as written: no client-side normalisation) → status and body. */
async function raw(port: number, requestLine: string): Promise<{ status: number; body: string }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  // (written, not ended: Node's server drops a request whose client half-closes; Connection: close ends it)
  socket.write(`${requestLine}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('latin1');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

/** The server's resident memory, in MB (Linux). */
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

test('serve-web: nothing outside the folder, GET and HEAD only, and 4,000 requests without a failure or memory growth', { timeout: 300_000 }, async () => {
  const base = mkdtempSync(join(tmpdir(), 'simclr-serve-'));
  const web = join(base, 'web');
  mkdirSync(join(web, 'ort'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>demo</title>');
  writeFileSync(join(web, 'vectors.bin'), Buffer.alloc(512 * 1024, 7));
  writeFileSync(join(web, 'ort', 'a.mjs'), 'export {};');
  writeFileSync(join(base, 'secret.txt'), 'SECRET');
  symlinkSync(join(base, 'secret.txt'), join(web, 'secret-link.txt')); // a file link out of the folder
  symlinkSync(base, join(web, 'up')); // a folder link out of it
  writeFileSync(join(web, 'inside.txt'), 'inside');
  symlinkSync(join(web, 'inside.txt'), join(web, 'inside-link.txt')); // a link that stays inside

  const server = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'serve-web', web, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    const port = Number(/127\.0\.0\.1:(\d+)\//.exec(line.toString())?.[1]);
    assert.ok(port > 0, line.toString());

    const ok = await raw(port, 'GET / HTTP/1.1');
    assert.equal(ok.status, 200);
    assert.match(ok.body, /<title>demo<\/title>/);
    assert.equal((await raw(port, 'GET /inside-link.txt HTTP/1.1')).body, 'inside');
    const head = await raw(port, 'HEAD /vectors.bin HTTP/1.1');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');

    const tricks = [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/..%2fsecret.txt',
      '/ort/..%2f..%2fsecret.txt',
      '/%252e%252e/secret.txt',
      '/..\\secret.txt',
      `/${encodeURIComponent(join(base, 'secret.txt'))}`,
      `//${join(base, 'secret.txt').slice(1)}`,
      `http://127.0.0.1${join(base, 'secret.txt')}`,
      '/secret-link.txt',
      '/up/secret.txt',
      '/index.html%00.png',
      '/%00',
      `/${'a/'.repeat(3000)}index.html`,
      `/${'%2e%2e/'.repeat(50)}etc/passwd`,
      '/%E0%A4%A',
      '/ort',
    ];
    for (const path of tricks) {
      const r = await raw(port, `GET ${path} HTTP/1.1`);
      assert.ok(r.status >= 400 && r.status < 500, `${path}: status ${r.status}`);
      assert.doesNotMatch(r.body, /SECRET|root:/, path);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH']) {
      const r = await raw(port, `${method} /index.html HTTP/1.1`);
      assert.equal(r.status, 405, method);
      assert.doesNotMatch(r.body, /demo/, method);
    }
    // (CONNECT: Node's server closes the connection unanswered)
    assert.equal((await raw(port, 'CONNECT 127.0.0.1:22 HTTP/1.1')).status, 0);

    // Load: a warm-up, then 4,000 requests over 20 connections (half for the page, half for a 512 KB file).
    const load = (amount: number) =>
      autocannon({ url: `http://127.0.0.1:${port}`, connections: 20, amount, timeout: 10, requests: [{ path: '/' }, { path: '/vectors.bin' }] });
    await load(1000);
    const before = rssMb(server.pid!);
    const result = await load(4000);
    const after = rssMb(server.pid!);
    console.log(JSON.stringify({ requests: result.requests.total, perSecond: result.requests.average, p99Ms: result.latency.p99, errors: result.errors, rssBeforeMb: before, rssAfterMb: after }));
    assert.equal(result.requests.total, 4000);
    assert.equal(result.errors + result.timeouts + result.non2xx, 0);
    assert.ok(after - before < 40, `the server grew from ${before} to ${after} MB`);
  } finally {
    server.kill();
  }
});
