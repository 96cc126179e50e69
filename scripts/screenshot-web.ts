// A screenshot of the browser demo (for docs/): the folder written by `simclr export --web`, served
// on loopback, opened in Chromium and given one image.
//   node dist/scripts/screenshot-web.js runs/web docs/examples/ankle-boot.png docs/web-demo.png
import { chromium } from 'playwright-core';
import { serveStatic } from '../src/export/web.js';

const [dir, image, out] = process.argv.slice(2);
if (dir === undefined || image === undefined || out === undefined) throw new Error('usage: node dist/scripts/screenshot-web.js <demo folder> <image> <out.png>');
const { url, server } = await serveStatic(dir);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 }, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.waitForFunction("document.getElementById('status').textContent.startsWith('ready') || window.simclrDemo?.error", null, { timeout: 120_000 });
  await page.setInputFiles('#file', image);
  await page.waitForFunction('window.simclrDemo.last || window.simclrDemo.error', null, { timeout: 60_000 });
  const error = await page.evaluate('window.simclrDemo.error');
  if (error) throw new Error(`the page reports: ${String(error)}`);
  await page.screenshot({ path: out, fullPage: true });
  console.log(JSON.stringify({ screenshot: out, searchMs: await page.evaluate('window.simclrDemo.last.ms') }));
} finally {
  await browser.close();
  server.close();
}
