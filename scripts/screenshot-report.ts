// A screenshot of a report as Chromium draws it (for docs/): the top of the page, or the whole page.
//   node dist/scripts/screenshot-report.js runs/quickstart/report.html docs/report.png [--full-page]
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const [file, out] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (file === undefined || out === undefined) throw new Error('usage: node dist/scripts/screenshot-report.js <report.html> <out.png> [--full-page]');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 1 });
  await page.goto(`file://${resolve(file)}`);
  await page.waitForFunction('"simclrReport" in window');
  await page.screenshot({ path: out, fullPage: process.argv.includes('--full-page') });
  console.log(JSON.stringify({ screenshot: out }));
} finally {
  await browser.close();
}
