// Loads an HTML report in Debian's headless chromium (playwright-core, no browser download)
// and prints what a person sees, as JSON, for tests/browser/test_report.py to check:
// the chart's bars (month, count, drawn height), the status and summary numbers, the findings
// table, the entries table's texts, any script or console error, whether any <script> or
// external resource exists, and a screenshot at argv[3] (phone width and desktop width).
import { chromium } from 'playwright-core';

const [file, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new'],
});
const errors = [];
const requests = [];
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  page.on('dialog', async (d) => { errors.push('dialog: ' + d.message()); await d.dismiss(); });
  await page.goto('file://' + file, { waitUntil: 'load' });
  const seen = await page.evaluate(() => {
    const text = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent);
    return {
      title: document.title,
      status: document.querySelector('#status')?.textContent,
      entries: document.querySelector('#entries')?.textContent,
      certificates: document.querySelector('#certificates')?.textContent,
      bars: [...document.querySelectorAll('svg.chart g.month')].map((g) => ({
        month: g.dataset.month,
        count: Number(g.dataset.count),
        height: Number(g.querySelector('rect.bar').getAttribute('height')),
        label: g.querySelector('text.count').textContent,
      })),
      findings: [...document.querySelectorAll('#findings tbody tr')].map((tr) =>
        [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      rows: [...document.querySelectorAll('#entries-table tbody tr')].map((tr) =>
        [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      scripts: document.querySelectorAll('script').length,
      images: document.querySelectorAll('img').length,
      handlers: [...document.querySelectorAll('*')].filter((e) =>
        [...e.attributes].some((a) => a.name.startsWith('on'))).length,
      subjects: text('td.subject'),
    };
  });
  await page.screenshot({ path: shot, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  seen.phoneOverflow = await page.evaluate(() =>
    document.documentElement.scrollWidth > window.innerWidth + 1);
  await page.screenshot({ path: shot.replace(/\.png$/, '-phone.png'), fullPage: true });
  seen.errors = errors;
  seen.requests = requests;
  process.stdout.write(JSON.stringify(seen) + '\n');
} finally {
  await browser.close();
}
