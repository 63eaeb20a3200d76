// Drives the Limes console in headless Chromium as an operator would and
// reports, one line at a time on stdout, what it saw:
//   node check.mjs URL TOKEN PEERS VICTIM MSG_ID SHOT_DIR
// PEERS: the agent's peer ids, comma-separated (one row each); VICTIM: the
// peer the caller kills and restarts; MSG_ID: a message sent to VICTIM.
//   SIGNIN <n>         a wrong token was refused once (no dialog, no retry
//                      loop), the right one opened the console with n rows
//   UP                 every row shown, VICTIM up: the caller kills VICTIM now
//   DOWN <state> <ms>  VICTIM's row shown down (wall clock ms when seen)
//   UPAGAIN <ms>       VICTIM's row up again after the caller restarted it
//   CHARTS <n>         n drawn points checked against GET /v1/stats/history
//   DONE               events, lookup, a degraded row, the phone layout,
//                      sign-out and screenshots done, no console error
// Exits non-zero after "FAIL <reason>" on any failure.
import { chromium } from 'playwright-core';

const [url, token, peerList, victim, msgId, shots] = process.argv.slice(2);
const say = (line) => console.log(line);
const fail = (why) => { say('FAIL ' + why); process.exit(1); };
if (!url || !token || !peerList || !victim || !msgId || !shots)
  fail('usage: check.mjs URL TOKEN PEERS VICTIM MSG_ID SHOT_DIR');
const peers = peerList.split(',');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const timer = setTimeout(() => fail('timed out'), 150000);
const rowState = (p) => {
  const r = document.querySelector('#rows tr[data-peer="' + p + '"]');
  return r ? r.dataset.state : null;
};

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [], refused = [], missing = [], external = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // Chromium logs the answers of the deliberate wrong token (401) and
    // unknown message (404) itself: each expected exactly once
    if (/status of 401/.test(m.text())) refused.push(m.text());
    else if (/status of 404/.test(m.text())) missing.push(m.text());
    else errors.push('console: ' + m.text());
  });
  page.on('dialog', (d) => { errors.push('dialog: ' + d.message()); d.dismiss(); });
  const origin = new URL(url).origin;
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) external.push(r.url()); });
  let peersRequests = 0;
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/v1/peers') peersRequests++; });

  const response = await page.goto(url);
  if (!response || response.status() !== 200) fail('GET / answered ' + (response && response.status()));
  if (response.headers()['content-type']?.indexOf('text/html') !== 0) fail('GET / is not HTML');
  // the browser itself holds the page to this agent (any breach shows as a console error below)
  const csp = response.headers()['content-security-policy'] || '';
  if (!/connect-src 'self'/.test(csp) || !/default-src 'none'/.test(csp) || !/frame-ancestors 'none'/.test(csp))
    fail('GET / has no strict Content-Security-Policy: "' + csp + '"');

  // --- sign-in: a wrong token first
  await page.locator('#signin').waitFor({ state: 'visible', timeout: 5000 });
  if (await page.locator('#token').getAttribute('type') !== 'password') fail('the token field is not a password field');
  await page.fill('#token', 'not-the-token');
  await page.click('#signin-form button[type=submit]');
  await page.locator('#signin-error', { hasText: 'refused' }).waitFor({ timeout: 5000 });
  await page.waitForTimeout(2500); // a re-asking loop would ask again meanwhile
  if (peersRequests !== 1) fail('the wrong token was tried ' + peersRequests + ' times');
  if (!(await page.locator('#signin').isVisible()) || await page.locator('#console').isVisible())
    fail('the sign-in form did not stay after a wrong token');
  if (await page.evaluate(() => sessionStorage.getItem('limes-token')) !== null) fail('a wrong token was kept');
  await page.screenshot({ path: shots + '/signin-refused.png' });

  // --- the right token
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#console').waitFor({ state: 'visible', timeout: 5000 });
  if (await page.evaluate(() => sessionStorage.getItem('limes-token')) !== token) fail('the token is not in sessionStorage');
  await page.waitForFunction((n) => document.querySelectorAll('#rows tr').length === n, peers.length, { timeout: 5000 });
  for (const p of peers)
    if (await page.locator('#rows tr[data-peer="' + p + '"]').count() !== 1) fail('no single row for ' + p);
  say('SIGNIN ' + await page.locator('#rows tr').count());

  // --- every peer up, with its RTT
  await page.waitForFunction((ps) => ps.every((p) => {
    const r = document.querySelector('#rows tr[data-peer="' + p + '"]');
    return r && r.dataset.state === 'up' && / ms$/.test(r.cells[2].textContent);
  }), peers, { timeout: 20000, polling: 100 });
  if (await page.locator('#banner').isVisible()) fail('the alert banner shows with every link up');
  const head = await page.locator('#agent').textContent();
  if (!/ · node .+ \(active\)/.test(head)) fail('the header lacks the node and its role: "' + head + '"');
  await page.screenshot({ path: shots + '/console-1280.png', fullPage: true });
  const width = await page.evaluate(() => [document.documentElement.scrollWidth, document.querySelector('#peers').scrollWidth]);
  if (width[0] > 1280 || width[1] > 1280) fail('wider than 1280 px: page ' + width[0] + ', table ' + width[1]);
  say('UP');

  // --- the caller kills VICTIM: its row must turn down by itself, and loudly
  await page.waitForFunction((p) => {
    const r = document.querySelector('#rows tr[data-peer="' + p + '"]');
    return r && (r.dataset.state === 'down' || r.dataset.state === 'connecting');
  }, victim, { timeout: 30000, polling: 20 });
  const seenDown = Date.now();
  const state = await page.evaluate(rowState, victim);
  const banner = await page.locator('#banner').textContent();
  if (!(await page.locator('#banner').isVisible()) || !banner.includes(victim)) fail('no alert banner naming ' + victim + ': "' + banner + '"');
  for (const p of peers)
    if (p !== victim && await page.evaluate(rowState, p) !== 'up') fail(p + ' is not shown up while only ' + victim + ' is down');
  say('DOWN ' + state + ' ' + seenDown);
  await page.screenshot({ path: shots + '/console-peer-down.png', fullPage: true });

  // --- the caller restarts it
  await page.waitForFunction((p) => {
    const r = document.querySelector('#rows tr[data-peer="' + p + '"]');
    return r && r.dataset.state === 'up';
  }, victim, { timeout: 30000, polling: 50 });
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: 3000 });
  say('UPAGAIN ' + Date.now());

  // --- the event feed saw the link go and come back
  await page.waitForFunction((p) => {
    const kinds = [...document.querySelectorAll('#events li')].filter((li) => li.textContent.includes(p)).map((li) => li.dataset.kind);
    // newest first: up again, after going down, after having been up
    const down = kinds.findIndex((k, j) => j > 0 && (k === 'link_connecting' || k === 'link_down'));
    return kinds[0] === 'link_up' && down > 0 && kinds.slice(down).includes('link_up');
  }, victim, { timeout: 10000, polling: 200 });

  // --- the charts: every drawn point maps back to a sample of /v1/stats/history
  await page.waitForFunction((p) => {
    const pl = document.querySelector('svg.chart[data-peer="' + p + '"][data-chart="messages"] polyline[data-series="sent"]');
    return pl && pl.getAttribute('points').split(' ').length >= 3;
  }, victim, { timeout: 20000, polling: 200 });
  const drawn = await page.evaluate(() => [...document.querySelectorAll('svg.chart')].map((svg) => ({
    peer: svg.dataset.peer, chart: svg.dataset.chart,
    t0: +svg.dataset.t0, t1: +svg.dataset.t1, ymax: +svg.dataset.ymax,
    left: +svg.dataset.left, top: +svg.dataset.top, width: +svg.dataset.width, height: +svg.dataset.height,
    lines: [...svg.querySelectorAll('polyline')].map((pl) => ({
      series: pl.dataset.series, points: pl.getAttribute('points').split(' ').map((xy) => xy.split(',').map(Number)) })),
  })));
  const hr = await fetch(origin + '/v1/stats/history?minutes=60', { headers: { Authorization: 'Bearer ' + token } });
  if (hr.status !== 200) fail('GET /v1/stats/history answered ' + hr.status);
  const hist = await hr.json();
  const expectSeries = { messages: ['sent', 'received', 'refused'], queue: ['queued'], rtt: ['rtt_ms'] };
  let checked = 0;
  for (const p of peers) {
    const hp = hist.peers.find((x) => x.id === p);
    if (!hp) fail('no history for ' + p);
    for (const [chartName, keys] of Object.entries(expectSeries)) {
      const c = drawn.find((d) => d.peer === p && d.chart === chartName);
      if (!c) fail('no ' + chartName + ' chart for ' + p);
      if (c.t1 - c.t0 !== 3600000) fail(p + ' ' + chartName + ': the window is not the last hour');
      const msPerPx = (c.t1 - c.t0) / c.width, unitPerPx = c.ymax / c.height;
      for (const key of keys) {
        // the samples the page had: those up to the time it drew
        const want = hp.t_ms.map((t, i) => ({ t, v: hp[key][i] })).filter((s) => s.t >= c.t0 && s.t <= c.t1 && s.v !== null);
        const pts = c.lines.filter((l) => l.series === key).flatMap((l) => l.points);
        if (pts.length !== want.length)
          fail(p + ' ' + chartName + '/' + key + ': ' + pts.length + ' points drawn, ' + want.length + ' samples in the history');
        pts.forEach(([x, y], i) => {
          const t = c.t0 + (x - c.left) * msPerPx, v = (c.top + c.height - y) * unitPerPx;
          if (Math.abs(t - want[i].t) > 0.02 * msPerPx + 1 || Math.abs(v - want[i].v) > 0.02 * unitPerPx + 1e-9)
            fail(p + ' ' + chartName + '/' + key + ' point ' + i + ': drawn (t ' + t.toFixed(0) + ', ' + v.toFixed(3) +
                 '), history (t ' + want[i].t + ', ' + want[i].v + ')');
          checked++;
        });
        if (want.length && Math.max(...want.map((s) => s.v)) > c.ymax) fail(p + ' ' + key + ': a value above the chart');
      }
    }
  }
  const sentSum = hist.peers.find((x) => x.id === victim).sent.reduce((a, b) => a + b, 0);
  if (sentSum < 1) fail('the history shows nothing sent to ' + victim);
  say('CHARTS ' + checked);

  // the last day: same charts over a day's window
  await page.click('.rangebar button[data-range="1440"]');
  await page.waitForFunction(() => {
    const s = document.querySelector('svg.chart');
    return s && +s.dataset.t1 - +s.dataset.t0 === 86400000;
  }, null, { timeout: 5000 });

  // --- message lookup: the message sent to VICTIM, its state per recipient
  await page.fill('#msg-id', msgId);
  await page.click('#lookup-form button');
  await page.locator('#recipients tr', { hasText: victim }).waitFor({ timeout: 5000 });
  const lookedUp = await page.locator('#recipients tbody').textContent();
  if (!/delivered|sent|queued/.test(lookedUp)) fail('lookup shows no state: ' + lookedUp);
  await page.fill('#msg-id', '0'.repeat(32));
  await page.click('#lookup-form button');
  await page.locator('#lookup-missing').waitFor({ timeout: 5000 });

  // --- degraded (a state the link module may report with its reason) and a
  // next key the neighbour offered: the agent's answer is altered in flight,
  // in the agent's own field names (GET /v1/peers: "reason", "key.offered"),
  // as no link can be made to degrade here
  await page.route('**/v1/peers', async (route) => {
    try {
      const real = await route.fetch();
      const doc = await real.json();
      for (const p of doc.peers)
        if (p.id === victim) {
          if (!p.key || !('offered' in p.key)) throw new Error('GET /v1/peers has no key.offered');
          p.state = 'degraded';
          p.reason = 'rtt 812 ms above 500 ms';
          p.key.offered = { id: 'ee3b31646fb9b8f8', state: 'offered', seq: 1, announced: new Date().toISOString() };
        }
      await route.fulfill({ response: real, json: doc });
    } catch (e) {
      // the page dropped the request (it polls on): nothing to answer
    }
  });
  await page.waitForFunction((p) => {
    const r = document.querySelector('#rows tr[data-peer="' + p + '"]');
    return r && r.dataset.state === 'degraded' && r.cells[1].textContent.includes('rtt 812 ms above 500 ms') &&
      r.querySelector('[data-key-offer="ee3b31646fb9b8f8"]') &&
      r.cells[1].textContent.includes('next key ee3b31646fb9b8f8 offered: limes peer accept-key ' + p);
  }, victim, { timeout: 5000, polling: 50 });
  const warn = await page.locator('#banner').getAttribute('class');
  const warnText = await page.locator('#banner').textContent();
  if (!(await page.locator('#banner').isVisible()) || !/warn/.test(warn) || !warnText.includes('degraded: ' + victim))
    fail('no amber banner for a degraded link: "' + warnText + '" (' + warn + ')');
  // the banner stays in view wherever the operator has scrolled to
  const top = await page.locator('#banner').evaluate((b) => b.getBoundingClientRect().top);
  if (top < 0 || top > 10) fail('the banner is out of view when scrolled (top ' + top + ')');
  if (!(await page.title()).includes('1 degraded')) fail('the tab title does not say a link is degraded: ' + await page.title());
  await page.screenshot({ path: shots + '/console-degraded.png' });
  await page.unrouteAll({ behavior: 'wait' }); // lets an answer in flight finish
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: 3000 });

  // --- on a phone: no sideways scrolling, rows as cards
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const phone = await page.evaluate(() => document.documentElement.scrollWidth);
  if (phone > 390) fail('on a 390 px phone the page is ' + phone + ' px wide');
  await page.screenshot({ path: shots + '/console-phone.png', fullPage: true });

  // --- sign out: the token is forgotten, the form is back
  await page.click('#signout');
  await page.locator('#signin').waitFor({ state: 'visible', timeout: 3000 });
  if (await page.evaluate(() => sessionStorage.getItem('limes-token')) !== null) fail('sign-out kept the token');

  if (refused.length !== 1) fail(refused.length + ' refused requests logged (one expected): ' + refused.join('; '));
  if (missing.length !== 1) fail(missing.length + ' not-found answers logged (one expected): ' + missing.join('; '));
  if (external.length) fail('the page fetched from elsewhere: ' + external.join(', '));
  if (errors.length) fail('console errors: ' + errors.join('; '));
  say('DONE');
} catch (e) {
  fail(String(e).split('\n')[0]);
} finally {
  clearTimeout(timer);
  await browser.close();
}
