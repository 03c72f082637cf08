// A Sluice exec job that loads a page with Playwright and prints its title:
//   SLUICE_EXEC_PAGE_TITLE='["node","testdata/browser/playwright.js"]'
//   payload {"url": "http://...", "block": false}
// Playwright makes a fresh profile (user data dir) for every launch.
const { chromium } = require('playwright-core');
const { flags, readPayload, blockForever } = require('./flags');

(async () => {
  const { url, block } = readPayload();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: flags });
  const page = await browser.newPage();
  if (block) {
    page.goto(url).catch(() => {});
    setTimeout(blockForever, 500); // once the request is out
    return;
  }
  await page.goto(url);
  process.stdout.write(JSON.stringify({ title: await page.title() }));
  await browser.close();
})().catch((err) => { console.error(err); process.exit(1); });
