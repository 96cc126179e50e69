// A screenshot of a report (a run's or a sweep's) as Chromium draws it (for docs/): the whole page, or the part between
// two section headings (--from: the heading it starts at, --to: the heading it stops before;
// a heading is named by the start of its text).
//   node dist/scripts/screenshot-report.js runs/quickstart/report.html docs/report.png [--from Map] [--to Config]
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const flag = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const [file, out] = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
if (file === undefined || out === undefined) throw new Error('usage: node dist/scripts/screenshot-report.js <report.html> <out.png> [--from heading] [--to heading]');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 1 });
  await page.goto(`file://${resolve(file)}`);
  await page.waitForFunction('"simclrReport" in window || "simclrSweep" in window || "simclrTransfer" in window');
  const top = async (heading: string | undefined, fallback: string) =>
    heading === undefined
      ? ((await page.evaluate(fallback)) as number)
      : ((await page.evaluate(`(() => { const h = [...document.querySelectorAll('h2')].find((e) => e.textContent.startsWith(${JSON.stringify(heading)})); if (!h) throw new Error('no section heading starting with ${heading.replace(/'/g, '')}'); return h.getBoundingClientRect().top + window.scrollY; })()`)) as number);
  const y0 = await top(flag('--from'), '0');
  const y1 = await top(flag('--to'), 'document.documentElement.scrollHeight');
  await page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: y0, width: 1280, height: y1 - y0 } });
  console.log(JSON.stringify({ screenshot: out, from: y0, to: y1 }));
} finally {
  await browser.close();
}
