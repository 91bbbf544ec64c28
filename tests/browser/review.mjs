// tests/browser/review.mjs: the browser half of tests/ui.bats. One headless
// Debian chromium (puppeteer-core, executablePath the system's), one run
// through the review page at BASE with the API key KEY, each step a named
// check; the answers go to OUT/results.json ({"checks": {name: null | why},
// "ids": {...}}) for the bats tests to assert, one test per check, beside
// what they read of the database. Controls are found by role and accessible
// name (puppeteer's ::-p-aria), as a person with a screen reader would.
//
//   BASE=http://127.0.0.1:PORT KEY=ak_live_... OUT=DIR SHOTS=DIR PNG=FILE \
//     node tests/browser/review.mjs
//
// SHOTS: a screenshot of the page when a check fails (NAME.png); PNG: the
// README's picture of the page, written on every run. Every wait is
// bounded (WAIT_MS); the whole run has a deadline of its own.
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const { BASE, KEY, OUT, SHOTS, PNG } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 5000;
const ORIGIN = new URL(BASE).origin;

const results = { checks: {}, ids: {} };
const save = () => writeFileSync(join(OUT, 'results.json'), JSON.stringify(results, null, 1));
setTimeout(() => {
  results.checks['the run ends in time'] = 'the browser run took over 120 s';
  save();
  process.exit(1);
}, 120000).unref();

// ---- The API, from node (fixtures and changes made "elsewhere") ----------

async function api(method, path, body, key = KEY) {
  const res = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}
const vendor = async (name) => (await api('POST', '/v1/vendors', { name })).id;
const rsm = async (event, vendors, title, plan) => (await api('POST', '/v1/reassessments',
  { radar_event_id: event, vendor_ids: vendors, title, assessment_plan_id: plan ?? null })).id;

// ---- The browser ------------------------------------------------------------

const profile = mkdtempSync(join(process.env.BATS_TMP || tmpdir(), 'chromium-'));
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  userDataDir: profile,
  // Rationale: CI runs as root, where chromium's sandbox cannot start.
  args: ['--no-sandbox', '--no-first-run', '--no-default-browser-check',
    '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-extensions',
    '--font-render-hinting=none', '--lang=en-US'],
  defaultViewport: { width: 1200, height: 900 },
  protocolTimeout: 30000,
});

const requests = [];      // every request the page made: {url, auth, origin}
const dialogs = [];       // alert()/confirm() the page opened: none expected
const violations = [];    // Content-Security-Policy violations reported
const pageErrors = [];    // uncaught exceptions in the page

const page = await browser.newPage();
page.setDefaultTimeout(WAIT_MS);
await page.setRequestInterception(true);
page.on('request', (req) => {
  const u = req.url();
  const origin = u.startsWith('data:') ? 'data:' : new URL(u).origin;
  requests.push({ url: u, origin, auth: req.headers().authorization || '' });
  if (origin !== ORIGIN) req.abort('blockedbyclient');
  else req.continue();
});
page.on('dialog', async (d) => {
  dialogs.push(`${d.type()}: ${d.message()}`);
  await d.dismiss();
});
page.on('pageerror', (e) => pageErrors.push(String(e)));
await page.evaluateOnNewDocument(() => {
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__violations = window.__violations || [];
    window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
});

// check NAME FN: run one step; a failure is recorded with a screenshot and
// the run goes on (later steps may fail for the same cause: the first
// failure is the one to read).
async function check(name, fn) {
  try {
    await fn();
    results.checks[name] = null;
  } catch (e) {
    results.checks[name] = String(e && e.stack || e);
    try {
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, `${name.replace(/[^A-Za-z0-9]+/g, '-')}.png`), fullPage: true });
    } catch { /* the screenshot is a help, not the check */ }
  }
  save();
}

function assert(ok, why) {
  if (!ok) throw new Error(why);
}

// Controls by role and accessible name.
const aria = (name, role) => `::-p-aria([name=${JSON.stringify(name)}]${role ? `[role="${role}"]` : ''})`;
const text = (sel) => page.$eval(sel, (n) => n.textContent);
const byId = (id) => text(`#${id}`);

// waitText SEL WANT: wait (bounded) until SEL's text includes WANT.
async function waitText(sel, want) {
  try {
    await page.waitForFunction((s, w) => {
      const n = document.querySelector(s);
      return n && n.textContent.includes(w);
    }, { timeout: WAIT_MS }, sel, want);
  } catch {
    const got = await page.$eval(sel, (n) => n.textContent).catch(() => '(absent)');
    throw new Error(`${sel} never showed ${JSON.stringify(want)}; it shows ${JSON.stringify(got)}`);
  }
}

// click NAME [ROLE]: the control of that accessible name, enabled.
async function click(name, role = 'button') {
  const h = await page.waitForSelector(aria(name, role), { visible: true });
  const disabled = await h.evaluate((n) => n.disabled);
  assert(!disabled, `${name} is disabled`);
  await h.click();
}
const isDisabled = (name, role = 'button') => page.$eval(aria(name, role), (n) => n.disabled);

// openRsm TITLE: open the reassessment of that title from the list.
// (A list button's accessible name is its whole text: title, status and
// vendor count; it is found by its title.)
async function openRsm(title) {
  const b = await page.waitForFunction((t) => [...document.querySelectorAll('#rsm-list button')]
    .find((n) => n.querySelector('.title').textContent === t), { timeout: WAIT_MS }, title);
  await b.click();
  await waitText('#detail-heading', title);
}

// ---- Fixtures -------------------------------------------------------------------

const v1 = await vendor('Acme Cloud');
const v2 = await vendor('Northwind Payroll');
const xssName = '<img src=x onerror=alert(1)>';
const vx = await vendor(xssName);
const v3 = await vendor('Third Party Logistics');
const event = (await api('POST', '/v1/radar/events', {
  name: 'Breach at a shared identity provider',
  summary: 'The single sign-on provider used by Acme Cloud and Northwind Payroll reported unauthorised access.',
  primary_impact_type: 'Infosec', vendor_ids: [v1, v2, vx], alert_severity: 'high',
})).id;
const plan = (await api('POST', '/v1/assessment_plans', { name: 'Security review', control_set_ids: ['cs_1'] })).id;
await api('POST', '/v1/assessment_plans', { name: 'Privacy review' });
const TITLE = 'Reassess Acme Cloud and Northwind Payroll after the SSO breach';
const main = await rsm(event, [v1, v2], TITLE);
Object.assign(results.ids, { v1, v2, vx, v3, event, plan, main });

// ---- The run ----------------------------------------------------------------------

await check('the page loads with its own files and asks for the API key', async () => {
  const res = await page.goto(`${BASE}/`, { waitUntil: 'load' });
  assert(res.status() === 200, `GET / answered ${res.status()}`);
  await page.waitForSelector(aria('API key', 'textbox'), { visible: true });
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  assert(focused === 'api-key', `focus is on ${focused}, not the API key field`);
});

await check('a wrong key shows Invalid or expired API key. and asks again', async () => {
  await page.type(aria('API key', 'textbox'), 'ak_live_0000000000000000000000000000000000000000000');
  await click('Use key');
  await waitText('#key-error', 'Invalid or expired API key.');
  assert(!(await page.$eval('#key-section', (n) => n.hidden)), 'the key form is gone');
  assert(await page.$eval('#app', (n) => n.hidden), 'the reassessments show without a key');
  const stored = await page.evaluate(() => sessionStorage.length + localStorage.length);
  assert(stored === 0, 'a refused key was kept');
});

await check('the key signs in from the keyboard', async () => {
  await page.focus(aria('API key', 'textbox'));
  await page.keyboard.type(KEY);
  await page.keyboard.press('Enter');
  await page.waitForSelector(aria('Sign out'), { visible: true });
  const inSession = await page.evaluate(() => Object.values(sessionStorage));
  assert(inSession.length === 1 && inSession[0] === KEY, 'the key is not in sessionStorage');
  const field = await page.$eval('#api-key', (n) => n.value);
  assert(field === '', 'the key is left in the field');
});

await check('the README picture is taken', async () => {
  await openRsm(TITLE);
  await page.waitForFunction(() => document.querySelectorAll('#plan option').length >= 3);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: PNG });
});

await check('the list shows title, status and vendor count, newest first', async () => {
  const later = await rsm(event, [v1], 'A later draft');
  results.ids.later = later;
  await page.reload({ waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelectorAll('#rsm-list li').length === 2);
  const rows = await page.$$eval('#rsm-list button', (bs) => bs.map((b) =>
    [...b.children].map((c) => c.textContent)));
  assert(JSON.stringify(rows) === JSON.stringify([
    ['A later draft', 'draft', '1 vendor'], [TITLE, 'draft', '2 vendors']]),
  `rows are ${JSON.stringify(rows)}`);
});

await check('the reassessment shows its radar event, alerts and vendors', async () => {
  await openRsm(TITLE);
  assert((await byId('ev-name')) === 'Breach at a shared identity provider', 'event name');
  assert((await byId('ev-impact')) === 'Infosec', 'impact type');
  assert((await byId('ev-summary')).startsWith('The single sign-on provider'), 'summary');
  const alerts = await page.$$eval('#alerts li', (ls) => ls.map((l) => l.textContent));
  assert(alerts.length === 2 && alerts.every((a) => a.startsWith('high ')),
    `alerts are ${JSON.stringify(alerts)}`);
  assert(alerts.some((a) => a.includes('(Acme Cloud)')) && alerts.some((a) => a.includes('(Northwind Payroll)')),
    `alerts name no vendor: ${JSON.stringify(alerts)}`);
  const vendors = await page.$$eval('#vendors li', (ls) => ls.map((l) =>
    [...l.children].map((c) => c.textContent)));
  assert(JSON.stringify(vendors) === JSON.stringify([
    ['Acme Cloud', 'source: matched', 'included', 'Exclude'],
    ['Northwind Payroll', 'source: matched', 'included', 'Exclude']]),
  `vendors are ${JSON.stringify(vendors)}`);
  const focused = await page.evaluate(() => document.activeElement.id);
  assert(focused === 'detail-heading', `focus is on ${focused}, not the reassessment's heading`);
});

await check('Exclude and Include change whether a vendor is included', async () => {
  await click('Exclude Northwind Payroll');
  await page.waitForSelector(aria('Include Northwind Payroll'), { visible: true });
  const row = await page.$$eval('#vendors li', (ls) => ls[1].textContent);
  assert(row.includes('excluded'), `row reads ${row}`);
  const r = await api('GET', `/v1/reassessments/${main}`);
  assert(r.vendors[1].included === false, 'the API still has it included');
  await click('Include Northwind Payroll');
  await page.waitForSelector(aria('Exclude Northwind Payroll'), { visible: true });
  await click('Exclude Northwind Payroll');
  await page.waitForSelector(aria('Include Northwind Payroll'), { visible: true });
});

await check('Add vendors searches by name and adds one', async () => {
  await page.type(aria('Vendor name', 'searchbox'), 'third');
  await page.keyboard.press('Enter');
  await click('Add Third Party Logistics');
  await waitText('#vendors', 'Third Party Logistics');
  const row = await page.$$eval('#vendors li', (ls) => ls[2].textContent);
  assert(row.includes('source: manual') && row.includes('included'), `row reads ${row}`);
  await waitText('#action-done', 'Added Third Party Logistics.');
});

await check('an API error shows its message beside its control', async () => {
  // No plan yet: the API refuses the run with 400 missing_assessment_plan.
  await click('Run');
  await page.waitForSelector('#ask[open]');
  await click('Yes, run');
  await waitText('#action-error', 'has no assessment plan');
  const r = await api('GET', `/v1/reassessments/${main}`);
  assert(r.status === 'draft', `status is ${r.status}`);
});

await check('the Assessment plan select lists the plans by name and saves one', async () => {
  const options = await page.$$eval('#plan option', (os) => os.map((o) => o.textContent));
  assert(JSON.stringify(options.slice(1).sort()) === JSON.stringify(['Privacy review', 'Security review']),
    `options are ${JSON.stringify(options)}`);
  const sel = await page.waitForSelector(aria('Assessment plan', 'combobox'));
  await sel.select(plan);
  await waitText('#action-done', 'Assessment plan saved.');
  const r = await api('GET', `/v1/reassessments/${main}`);
  assert(r.assessment_plan_id === plan, 'the plan was not saved');
});

await check('Confirm locks the vendor set and the buttons follow the state machine', async () => {
  assert(!(await isDisabled('Confirm')) && !(await isDisabled('Run')) && !(await isDisabled('Dismiss')),
    'a draft has a disabled action');
  await click('Confirm');
  await waitText('#d-status', 'confirmed');
  assert(await isDisabled('Confirm'), 'Confirm is enabled on a confirmed reassessment');
  assert(await isDisabled('Exclude Acme Cloud'), 'Exclude is enabled on a confirmed reassessment');
  assert(!(await isDisabled('Run')) && !(await isDisabled('Dismiss')), 'Run or Dismiss is disabled');
  assert(await page.$eval('#add-section', (n) => n.hidden), 'Add vendors is offered on a confirmed reassessment');
});

await check('Run asks first and Cancel runs nothing', async () => {
  await click('Run');
  await page.waitForSelector('#ask[open]');
  const q = await byId('ask-text');
  assert(q.includes('2 included vendors'), `the question is ${q}`);
  await page.keyboard.press('Escape');
  await page.waitForSelector('#ask:not([open])');
  await click('Run');
  await page.waitForSelector('#ask[open]');
  await click('Cancel');
  await page.waitForSelector('#ask:not([open])');
  const r = await api('GET', `/v1/reassessments/${main}`);
  assert(r.status === 'confirmed', `status is ${r.status}`);
});

await check('Run creates the assessments and lists them by name', async () => {
  await click('Run');
  await page.waitForSelector('#ask[open]');
  await click('Yes, run');
  await waitText('#d-status', 'run');
  await page.waitForSelector('#assessments-section:not([hidden])');
  const names = await page.$$eval('#assessments li', (ls) => ls.map((l) => l.textContent).sort());
  assert(JSON.stringify(names) === JSON.stringify(
    ['Security review: Acme Cloud', 'Security review: Third Party Logistics']),
  `assessments are ${JSON.stringify(names)}`);
  for (const b of ['Confirm', 'Run', 'Dismiss']) assert(await isDisabled(b), `${b} is enabled after the run`);
  assert(await page.$eval('#plan', (n) => n.disabled), 'the plan select is enabled after the run');
  await waitText('#action-done', '2 assessments created');
});

await check('a vendor named as HTML is shown as text', async () => {
  await rsm(event, [vx], 'Hostile names');
  await page.select(aria('Status', 'combobox'), 'draft');
  await openRsm('Hostile names');
  const row = await page.$$eval('#vendors li .name', (ls) => ls.map((l) => l.textContent));
  assert(row[0] === xssName, `the name shows as ${JSON.stringify(row[0])}`);
  assert(await page.$(aria(`Exclude ${xssName}`)), 'its button is not named after it');
  const imgs = await page.$$eval('img', (is) => is.length);
  assert(imgs === 0, `${imgs} img elements in the page`);
  const alerts = await page.$$eval('#alerts li', (ls) => ls.map((l) => l.textContent));
  assert(alerts.some((a) => a.includes(`(${xssName})`)), `alerts are ${JSON.stringify(alerts)}`);
});

await check('the list filters by status and pages through', async () => {
  await page.select(aria('Status', 'combobox'), 'run');
  await waitText('#page-info', '1–1 of 1');
  const titles = await page.$$eval('#rsm-list .title', (ts) => ts.map((t) => t.textContent));
  assert(JSON.stringify(titles) === JSON.stringify([TITLE]), `run: ${JSON.stringify(titles)}`);
  for (let i = 1; i <= 20; i++) await rsm(event, [v1], `Paging ${i}`);
  await page.select(aria('Status', 'combobox'), '');
  await waitText('#page-info', '1–20 of 23');
  assert(await isDisabled('Previous'), 'Previous is enabled on the first page');
  let first = await page.$$eval('#rsm-list .title', (ts) => ts.map((t) => t.textContent));
  assert(first[0] === 'Paging 20' && first.length === 20, `page 1: ${JSON.stringify(first)}`);
  await click('Next');
  await waitText('#page-info', '21–23 of 23');
  first = await page.$$eval('#rsm-list .title', (ts) => ts.map((t) => t.textContent));
  assert(JSON.stringify(first) === JSON.stringify(['Hostile names', 'A later draft', TITLE]),
    `page 2: ${JSON.stringify(first)}`);
  assert(await isDisabled('Next'), 'Next is enabled on the last page');
  await click('Previous');
  await waitText('#page-info', '1–20 of 23');
});

await check('an action on a reassessment run elsewhere shows reassessment_immutable', async () => {
  const stale = await rsm(event, [v1], 'Run elsewhere', plan);
  results.ids.stale = stale;
  await page.reload({ waitUntil: 'load' });
  await openRsm('Run elsewhere');
  assert(!(await isDisabled('Dismiss')), 'Dismiss is disabled on a draft');
  await api('POST', `/v1/reassessments/${stale}/run`);
  await click('Dismiss');
  await page.waitForSelector('#ask[open]');
  await click('Yes, dismiss');
  await waitText('#action-error', `Reassessment ${stale} is run and can no longer change.`);
  await waitText('#d-status', 'run');
  const r = await api('GET', `/v1/reassessments/${stale}`);
  assert(r.status === 'run', `status is ${r.status}`);
});

await check('a key refused mid-session asks for the key again', async () => {
  await page.evaluate(() => sessionStorage.setItem('reassess.apiKey',
    'ak_live_1111111111111111111111111111111111111111111'));
  await page.select(aria('Status', 'combobox'), 'dismissed');
  await waitText('#key-error', 'Invalid or expired API key.');
  await page.waitForSelector(aria('API key', 'textbox'), { visible: true });
  const focused = await page.evaluate(() => document.activeElement.id);
  assert(focused === 'api-key', `focus is on ${focused}`);
  assert(await page.evaluate(() => sessionStorage.length) === 0, 'the refused key is kept');
  await page.type(aria('API key', 'textbox'), KEY);
  await click('Use key');
  await page.waitForSelector(aria('Sign out'), { visible: true });
});

await check('the page is usable at phone width', async () => {
  await page.setViewport({ width: 375, height: 740, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  await page.reload({ waitUntil: 'load' });
  await openRsm('Run elsewhere');
  const m = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    list: document.getElementById('list-section').getBoundingClientRect().toJSON(),
    detail: document.getElementById('detail').getBoundingClientRect().toJSON(),
  }));
  assert(m.scroll <= 375, `the page is ${m.scroll} px wide`);
  assert(m.detail.top >= m.list.bottom, `the list (${JSON.stringify(m.list)}) and the reassessment (${JSON.stringify(m.detail)}) are not one above the other`);
  assert(m.detail.width > 300, `the reassessment is ${m.detail.width} px wide`);
  await page.setViewport({ width: 1200, height: 900 });
});

await check('Sign out forgets the key', async () => {
  await click('Sign out');
  await page.waitForSelector(aria('API key', 'textbox'), { visible: true });
  assert(await page.evaluate(() => sessionStorage.length + localStorage.length) === 0, 'storage holds something');
  assert(await page.$eval('#app', (n) => n.hidden), 'the reassessments still show');
  assert(await page.$$eval('#rsm-list li', (ls) => ls.length) === 0, 'the list is still in the page');
});

await check('the key is never in a URL or in localStorage', async () => {
  const withKey = requests.filter((r) => r.url.includes(KEY) || decodeURIComponent(r.url).includes(KEY));
  assert(withKey.length === 0, `URLs with the key: ${withKey.map((r) => r.url).join(' ')}`);
  assert(page.url() === `${BASE}/`, `the page's URL is ${page.url()}`);
  assert(await page.evaluate(() => localStorage.length) === 0, 'localStorage holds something');
  const sent = requests.filter((r) => r.auth);
  assert(sent.length > 10 && sent.every((r) => new URL(r.url).pathname.startsWith('/v1/')),
    'the key went with a request outside /v1/');
});

await check('no request leaves the origin', async () => {
  const away = requests.filter((r) => r.origin !== ORIGIN);
  assert(away.length === 0, `requests elsewhere: ${away.map((r) => r.url).join(' ')}`);
  const paths = new Set(requests.map((r) => new URL(r.url).pathname).filter((p) => !p.startsWith('/v1/')));
  assert([...paths].every((p) => ['/', '/ui/review.js', '/ui/review.css', '/favicon.ico'].includes(p)),
    `other files loaded: ${[...paths].join(' ')}`);
});

await check('no script dialog, CSP violation or page error', async () => {
  const v = await page.evaluate(() => window.__violations || []);
  assert(dialogs.length === 0, `dialogs: ${dialogs.join('; ')}`);
  assert(v.length === 0 && violations.length === 0, `CSP violations: ${v.join('; ')}`);
  assert(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
});

await browser.close();
rmSync(profile, { recursive: true, force: true });
save();
process.exit(0);
