// Drives the Limes dashboard in headless Chromium and reports what an
// operator would see, one line at a time on stdout:
//   node check.mjs URL TOKEN PEER SCREENSHOT
// prints "UP <rtt text>" once PEER's row shows the link up, then waits for
// the row to turn "connecting" or "down" (the caller stops the peer) and
// prints "DOWN <state>". Exits non-zero with the reason on any failure.
import { chromium } from 'playwright-core';

const [url, token, peer, shot] = process.argv.slice(2);
const fail = (why) => { console.log('FAIL ' + why); process.exit(1); };
if (!url || !token || !peer) fail('usage: check.mjs URL TOKEN PEER [SCREENSHOT]');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const timer = setTimeout(() => fail('timed out'), 60000);
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // the page asks for the token once and keeps it in sessionStorage
  await page.addInitScript((t) => sessionStorage.setItem('limes-token', t), token);
  const response = await page.goto(url);
  if (!response || response.status() !== 200) fail('GET / answered ' + (response && response.status()));
  if (response.headers()['content-type']?.indexOf('text/html') !== 0) fail('GET / is not HTML');

  const row = page.locator('#rows tr', { hasText: peer });
  const state = row.locator('td').nth(1);
  await state.filter({ hasText: 'up' }).waitFor({ timeout: 20000 });
  const rtt = (await row.locator('td').nth(3).textContent()).trim();
  if (!/ms$/.test(rtt)) fail('RTT cell shows "' + rtt + '"');
  const header = await page.locator('#agent').textContent();
  if (!/ · v/.test(header)) fail('header shows "' + header + '"');
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  console.log('UP ' + rtt);

  // live: the row changes without a reload when the link goes away
  await page.waitForFunction((p) => {
    const r = [...document.querySelectorAll('#rows tr')].find((tr) => tr.cells[0].textContent === p);
    return r && /connecting|down/.test(r.cells[1].textContent);
  }, peer, { timeout: 30000 });
  const now = (await state.textContent()).trim();
  if (errors.length) fail('page errors: ' + errors.join('; '));
  console.log('DOWN ' + now);
} catch (e) {
  fail(String(e).split('\n')[0]);
} finally {
  clearTimeout(timer);
  await browser.close();
}
