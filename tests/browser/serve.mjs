// Walks smimepub serve's page in Debian's headless chromium (playwright-core) as a helpdesk
// person would: login -> lookup -> check (a certificate whose CN is an <img onerror> tag) ->
// upload -> preview -> publish -> lookup shows it -> remove -> undo -> audit. Prints what was
// seen as JSON for tests/integration/test_serve.py to check, with every script error, dialog
// that was not the undo's confirmation, and request to anywhere but the server; screenshots
// of each step go to the directory given.
// usage: node serve.mjs URL USER PASSWORD ADDRESS CERT.pem XSS.pem FINGERPRINT SHOTDIR
import { chromium } from 'playwright-core';

const [url, user, password, address, certFile, xssFile, fingerprint, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new'],
});
const errors = [];
const foreign = [];
const seen = {};
const origin = new URL(url).origin;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (e) => errors.push('pageerror: ' + String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith(origin)) foreign.push(r.url()); });
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm' && d.message().startsWith('Undo')) { await d.accept(); return; }
    errors.push('dialog: ' + d.type() + ' ' + d.message());
    await d.dismiss();
  });
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  const texts = (sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent));

  await page.goto(url, { waitUntil: 'load' });
  await shot('01-login');
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#app:not([hidden])');
  seen.who = await page.textContent('#who-name');

  await page.fill('#lookup-address', address);
  await page.click('#lookup-submit');
  await page.waitForSelector('#lookup-result .card');
  seen.lookupBefore = await texts('#lookup-result .card h3');
  await shot('02-recipient-before');

  await page.click('nav button[data-view=check]');
  await page.setInputFiles('#check-file', xssFile);
  await page.click('#check-submit');
  await page.waitForSelector('#check-result .card');
  seen.checkSubject = await page.textContent('#check-result .card [data-field=subject]');
  seen.images = await page.$$eval('img', (es) => es.length);
  await shot('03-check');

  await page.click('nav button[data-view=publish]');
  await page.setInputFiles('#publish-file', certFile);
  await page.click('#publish-preview');
  await page.waitForSelector('#publish-plan .card');
  seen.preview = await page.$$eval('#publish-plan .card', (es) => es.map((e) => e.dataset.action));
  seen.previewLdif = await page.textContent('#publish-plan pre.ldif');
  await shot('04-publish-preview');
  await page.click('#publish-confirm');
  await page.waitForSelector('#publish-result .card');
  seen.published = await page.$$eval('#publish-result .card', (es) => es.map((e) => e.dataset.action));
  await shot('05-published');

  await page.click('nav button[data-view=lookup]');
  await page.click('#lookup-submit');
  await page.waitForSelector(`#lookup-result .card.value[data-sha256="${fingerprint}"]`);
  seen.lookupAfter = await page.$$eval('#lookup-result .card.value', (es) => es.map((e) => e.dataset.sha256));
  await shot('06-recipient-after');

  await page.click('nav button[data-view=remove]');
  await page.fill('#remove-address', address);
  await page.fill('#remove-fingerprint', fingerprint);
  await page.click('#remove-preview');
  await page.waitForSelector('#remove-plan .card');
  seen.removePreview = await page.$$eval('#remove-plan .card', (es) => es.map((e) => e.dataset.action));
  await page.click('#remove-confirm');
  await page.waitForSelector('#remove-result .card');
  seen.removed = await page.$$eval('#remove-result .card', (es) => es.map((e) => e.dataset.action));
  await shot('07-removed');

  await page.click('nav button[data-view=journal]');
  await page.waitForSelector('#journal-table button.undo');
  seen.journal = await page.$$eval('#journal-table tr', (trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].slice(1, 4).map((td) => td.textContent)));
  await page.click('#journal-table button.undo:not([disabled])');
  await page.waitForSelector('.undo-result');
  seen.undo = await page.textContent('.undo-result');
  await shot('08-undone');

  await page.click('nav button[data-view=audit]');
  await page.click('#audit-run');
  await page.waitForSelector('svg.chart g.month');
  seen.bars = await page.$$eval('svg.chart g.month', (gs) => gs.map((g) => [g.dataset.month, Number(g.dataset.count)]));
  seen.codes = await page.$$eval('#audit-codes-table tbody tr', (trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  await shot('09-audit');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('10-audit-phone');

  await page.click('#logout');
  await page.waitForSelector('#login-view:not([hidden])');
  seen.loggedOut = true;
} catch (e) {
  errors.push('step failed: ' + String(e));
} finally {
  seen.errors = errors;
  seen.foreign = foreign;
  process.stdout.write(JSON.stringify(seen) + '\n');
  await browser.close();
}
