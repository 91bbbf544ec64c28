// The review page (docs/api.md 8): every action is one call to the /v1 API
// with the key the person pasted, kept in sessionStorage (never in a URL,
// never in localStorage). Every value from the API reaches the page as
// text (textContent, or an attribute set with setAttribute), never as
// HTML: a vendor named <img src=x onerror=alert(1)> shows those characters.

const KEY_ITEM = 'reassess.apiKey';   // the sessionStorage item
const PAGE_SIZE = 20;                 // reassessments per page of the list
const STATUSES = ['draft', 'confirmed', 'run', 'dismissed'];

const $ = (id) => document.getElementById(id);

// What the page shows: the list's page and filter, the open reassessment,
// and the names of the vendors and plans it has looked up.
const state = {
  offset: 0,
  total: 0,
  status: '',
  rsm: null,            // the open reassessment, as the API gave it
  vendors: new Map(),   // vendor id -> vendor object
  plans: [],            // the org's assessment plans
  busy: false,          // an action is under way: its buttons wait
};

// ---- The API -------------------------------------------------------------

// An error answered by the API (or the lack of an answer): status, the
// contract's code when there is one, and a sentence for the person.
class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code || null;
    this.handled = false;   // a 401: the key form says it already
  }
}

// The sentence of an error body: {"detail":{"code","message"}},
// {"detail":"Not Found"} or the 422 list {"detail":[{"loc","msg"}]}.
function errorMessage(status, data) {
  const d = data && data.detail;
  if (typeof d === 'string') return d;
  if (d && typeof d.message === 'string') return d.message;
  if (Array.isArray(d) && d.length > 0) {
    return d.map((e) => `${(e.loc || []).join('.')}: ${e.msg}`).join('; ');
  }
  return `The server answered ${status}.`;
}

// One call: METHOD PATH (under /v1, relative to this page's origin), with
// BODY as JSON when given. Returns the parsed answer; throws an ApiError.
// A 401 forgets the key and asks for it again (signedOut).
async function api(method, path, body) {
  const key = sessionStorage.getItem(KEY_ITEM);
  if (!key) {
    const e = new ApiError(401, 'Not authenticated');
    signedOut(e.message);
    e.handled = true;
    throw e;
  }
  const init = {
    method,
    headers: { Authorization: `Bearer ${key}` },
    cache: 'no-store',
    credentials: 'omit',
    redirect: 'error',
    referrerPolicy: 'no-referrer',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The server could not be reached.');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const code = data && data.detail && typeof data.detail.code === 'string' ?
      data.detail.code : null;
    const e = new ApiError(res.status, errorMessage(res.status, data), code);
    if (res.status === 401) {
      signedOut(e.message);
      e.handled = true;
    }
    throw e;
  }
  return data;
}

// A path with its id made safe for a URL path segment.
const at = (base, id, tail = '') => `${base}/${encodeURIComponent(id)}${tail}`;

// GET one object, or null when it is not found (404): a reference that
// no longer resolves is shown as such rather than failing the page.
async function getOrNull(path) {
  try {
    return await api('GET', path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// Every item of a list endpoint, page after page (200 at a time).
async function listAll(path) {
  const items = [];
  const sep = path.includes('?') ? '&' : '?';
  for (let offset = 0; ; offset += 200) {
    const page = await api('GET', `${path}${sep}limit=200&offset=${offset}`);
    items.push(...page.items);
    if (page.items.length === 0 || items.length >= page.total) return items;
  }
}

// ---- Small DOM helpers ----------------------------------------------------

// A new element: tag, properties (text is its textContent; attrs set with
// setAttribute), and children (nodes, or strings as text).
function el(tag, props = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') n.textContent = v;
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) n.setAttribute(a, av);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) n.addEventListener(ev, fn);
    else n[k] = v;
  }
  for (const c of children) n.append(c);
  return n;
}

// Show error e in the element of id where (next to what caused it), unless
// the key form shows it already (a 401).
function showError(where, e) {
  if (e && e.handled) return;
  $(where).textContent = e instanceof ApiError ? e.message : `Unexpected error: ${e}`;
  if (!(e instanceof ApiError)) console.error(e);
}

function clearErrors(...ids) {
  for (const id of ids) $(id).textContent = '';
}

const vendorName = (id) => {
  const v = state.vendors.get(id);
  return v ? v.name : `${id} (not found)`;
};

// ---- Signing in and out -----------------------------------------------

// Show the key form, with why (an API message) when the key was refused.
function signedOut(why) {
  sessionStorage.removeItem(KEY_ITEM);
  state.rsm = null;
  state.vendors.clear();
  $('app').hidden = true;
  $('session').hidden = true;
  $('detail').hidden = true;
  $('rsm-list').replaceChildren();
  $('key-section').hidden = false;
  $('key-error').textContent = why || '';
  $('api-key').focus();
}

function signedIn() {
  $('key-section').hidden = true;
  $('key-error').textContent = '';
  $('app').hidden = false;
  $('session').hidden = false;
}

$('key-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('api-key');
  const key = input.value.trim();
  input.value = '';
  if (!key) {
    $('key-error').textContent = 'Paste an API key first.';
    input.focus();
    return;
  }
  sessionStorage.setItem(KEY_ITEM, key);
  state.offset = 0;
  try {
    await loadList();
    signedIn();
    $('list-heading').setAttribute('tabindex', '-1');
    $('list-heading').focus();
  } catch (e) {
    if (!e.handled) {
      sessionStorage.removeItem(KEY_ITEM);
      showError('key-error', e);
      input.focus();
    }
  }
});

$('sign-out').addEventListener('click', () => signedOut(''));

// ---- The list -----------------------------------------------------------

// Load and show the page of reassessments at state.offset, newest first.
async function loadList() {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
  if (state.status) q.set('status', state.status);
  const page = await api('GET', `/v1/reassessments?${q}`);
  clearErrors('list-error');
  state.total = page.total;
  const list = $('rsm-list');
  list.replaceChildren();
  for (const r of page.items) {
    const n = r.vendors.length;
    const b = el('button', {
      type: 'button',
      className: 'rsm',
      on: { click: () => openRsm(r.id, true) },
    },
    el('span', { className: 'title', text: r.title || 'Untitled reassessment' }),
    el('span', { className: `status s-${STATUSES.includes(r.status) ? r.status : 'other'}`, text: r.status }),
    el('span', { className: 'count', text: `${n} ${n === 1 ? 'vendor' : 'vendors'}` }));
    b.dataset.id = r.id;
    if (state.rsm && state.rsm.id === r.id) b.setAttribute('aria-current', 'true');
    list.append(el('li', {}, b));
  }
  $('list-empty').hidden = page.items.length > 0;
  const first = page.total === 0 ? 0 : state.offset + 1;
  const last = state.offset + page.items.length;
  $('page-info').textContent = `${first}–${last} of ${page.total}`;
  $('prev-page').disabled = state.offset === 0;
  $('next-page').disabled = last >= page.total;
}

// loadList for the controls: its error shown beside the list.
async function reloadList() {
  try {
    await loadList();
  } catch (e) {
    showError('list-error', e);
  }
}

$('filter-form').addEventListener('submit', (ev) => ev.preventDefault());
$('status-filter').addEventListener('change', () => {
  state.status = $('status-filter').value;
  state.offset = 0;
  reloadList();
});
$('prev-page').addEventListener('click', () => {
  state.offset = Math.max(0, state.offset - PAGE_SIZE);
  reloadList();
});
$('next-page').addEventListener('click', () => {
  state.offset += PAGE_SIZE;
  reloadList();
});

// ---- One reassessment -----------------------------------------------------

// Open reassessment id: fetch it and what it refers to, and show it. fresh:
// opened from the list (errors cleared, focus moved to its heading), not
// refreshed after an action (whose error or result stays shown).
async function openRsm(id, fresh) {
  if (fresh) {
    clearErrors('detail-error', 'vendors-error', 'add-error', 'plan-error',
      'action-error', 'action-done');
    $('search-results').replaceChildren();
    $('vendor-search').value = '';
  }
  try {
    const rsm = await api('GET', at('/v1/reassessments', id));
    const ids = [...new Set(rsm.vendors.map((v) => v.vendor_id))];
    const [event, alerts, vendors, plans, assessments] = await Promise.all([
      rsm.radar_event_id ? getOrNull(at('/v1/radar/events', rsm.radar_event_id)) : null,
      Promise.all(rsm.alert_ids.map((a) => getOrNull(at('/v1/radar/alerts', a)))),
      Promise.all(ids.map((v) => getOrNull(at('/v1/vendors', v)))),
      listAll('/v1/assessment_plans'),
      rsm.status === 'run' ?
        listAll(`/v1/assessments?reassessment_id=${encodeURIComponent(rsm.id)}`) : [],
    ]);
    state.rsm = rsm;
    for (const v of vendors) if (v) state.vendors.set(v.id, v);
    state.plans = plans;
    render(rsm, event, alerts.filter(Boolean), assessments);
    for (const b of $('rsm-list').querySelectorAll('button.rsm')) {
      if (b.dataset.id === rsm.id) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
    if (fresh) $('detail-heading').focus();
  } catch (e) {
    if (fresh || !state.rsm) {
      $('detail').hidden = true;
      showError('list-error', e);
    } else {
      showError('detail-error', e);
    }
  }
}

// Show reassessment rsm, its radar event and alerts, its vendors, the plan
// select and the actions its status allows, and after a run its assessments.
function render(rsm, event, alerts, assessments) {
  const draft = rsm.status === 'draft';
  const open = draft || rsm.status === 'confirmed';
  $('detail').hidden = false;
  $('detail-heading').textContent = rsm.title || 'Untitled reassessment';
  $('d-status').textContent = rsm.status;

  $('ev-name').textContent = event ? event.name : rsm.radar_event_id ?
    `${rsm.radar_event_id} (not found)` : 'None';
  $('ev-impact').textContent = event ? event.primary_impact_type : '';
  $('ev-summary').textContent = event ? event.summary : '';

  $('alerts').replaceChildren(...(alerts.length ? alerts.map((a) => el('li', {},
    el('span', { className: `sev sev-${a.severity}`, text: a.severity }), ' ',
    el('span', { text: a.summary || '' }), ' ',
    el('span', { className: 'help', text: `(${vendorName(a.vendor_id)})` }))) :
    [el('li', { className: 'help', text: 'No alerts.' })]));

  $('vendors-note').textContent = draft ? '' : rsm.status === 'confirmed' ?
    'Confirmed: the vendor set is locked.' : 'This reassessment can no longer change.';
  $('vendors').replaceChildren(...rsm.vendors.map((entry) => {
    const name = vendorName(entry.vendor_id);
    const verb = entry.included ? 'Exclude' : 'Include';
    return el('li', { className: entry.included ? 'vendor' : 'vendor excluded' },
      el('span', { className: 'name', text: name }),
      el('span', { className: 'source', text: `source: ${entry.source}` }),
      el('span', { className: 'included', text: entry.included ? 'included' : 'excluded' }),
      el('button', {
        type: 'button',
        text: verb,
        disabled: !draft,
        attrs: { 'aria-label': `${verb} ${name}` },
        on: { click: () => setIncluded(entry.vendor_id, !entry.included) },
      }));
  }));
  $('add-section').hidden = !draft;

  const plan = $('plan');
  const options = [];
  if (!rsm.assessment_plan_id) {
    options.push(el('option', { value: '', text: 'Choose a plan…' }));
  } else if (!state.plans.some((p) => p.id === rsm.assessment_plan_id)) {
    options.push(el('option', { value: rsm.assessment_plan_id,
      text: `${rsm.assessment_plan_id} (not found)` }));
  }
  for (const p of state.plans) options.push(el('option', { value: p.id, text: p.name }));
  plan.replaceChildren(...options);
  plan.value = rsm.assessment_plan_id || '';
  plan.disabled = !open;

  $('confirm').disabled = !draft;
  $('run').disabled = !open;
  $('dismiss').disabled = !open;

  $('assessments-section').hidden = rsm.status !== 'run';
  $('assessments').replaceChildren(...assessments.map((a) => el('li', { text: a.name })));
}

// Run one change of the open reassessment: call, then show the result.
// errWhere: the error element beside the control that made the call. A
// refusal refreshes the reassessment too (someone may have changed it
// meanwhile), and its message stays shown. Resolves true when it succeeded.
async function act(errWhere, call, done) {
  if (state.busy || !state.rsm) return false;
  state.busy = true;
  const id = state.rsm.id;
  clearErrors('detail-error', 'vendors-error', 'add-error', 'plan-error',
    'action-error', 'action-done');
  try {
    await call(id);
    await openRsm(id, false);
    if (done) $('action-done').textContent = done();
    await reloadList();
    return true;
  } catch (e) {
    if (!e.handled) {
      await openRsm(id, false);
      showError(errWhere, e);
    }
    return false;
  } finally {
    state.busy = false;
  }
}

function setIncluded(vendorId, included) {
  act('vendors-error', (id) => api('POST', at('/v1/reassessments', id, '/vendor_inclusion'),
    { vendor_id: vendorId, included }));
}

$('plan').addEventListener('change', () => {
  const planId = $('plan').value;
  if (!planId) return;
  act('plan-error', (id) => api('PATCH', at('/v1/reassessments', id),
    { assessment_plan_id: planId }), () => 'Assessment plan saved.');
});

// Ask the person to confirm: resolves true for the yes button, false for
// Cancel or Escape.
function ask(text, yes) {
  const d = $('ask');
  $('ask-text').textContent = text;
  $('ask-yes').textContent = yes;
  return new Promise((resolve) => {
    const finish = (answer) => {
      $('ask-yes').onclick = null;
      $('ask-no').onclick = null;
      d.onclose = null;
      if (d.open) d.close();
      resolve(answer);
    };
    $('ask-yes').onclick = () => finish(true);
    $('ask-no').onclick = () => finish(false);
    d.onclose = () => finish(false);
    d.showModal();
    $('ask-no').focus();
  });
}

$('confirm').addEventListener('click', () => act('action-error',
  (id) => api('POST', at('/v1/reassessments', id, '/confirm')),
  () => 'Confirmed: the vendor set is locked.'));

$('run').addEventListener('click', async () => {
  const n = state.rsm ? state.rsm.vendors.filter((v) => v.included).length : 0;
  if (!await ask(`Run this reassessment? It creates one assessment for each of the ${n} included ${n === 1 ? 'vendor' : 'vendors'}, and cannot be undone.`, 'Yes, run')) return;
  act('action-error', (id) => api('POST', at('/v1/reassessments', id, '/run')),
    () => `Run: ${$('assessments').children.length} assessments created.`);
});

$('dismiss').addEventListener('click', async () => {
  if (!await ask('Dismiss this reassessment? It closes without running and cannot be undone.', 'Yes, dismiss')) return;
  act('action-error', (id) => api('POST', at('/v1/reassessments', id, '/dismiss')),
    () => 'Dismissed.');
});

// ---- Add vendors ------------------------------------------------------------

$('add-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors('add-error');
  const q = new URLSearchParams({ name: $('vendor-search').value.trim(), limit: '20' });
  const results = $('search-results');
  try {
    const page = await api('GET', `/v1/vendors?${q}`);
    const inSet = new Set((state.rsm ? state.rsm.vendors : []).map((v) => v.vendor_id));
    results.replaceChildren(...page.items.map((v) => {
      state.vendors.set(v.id, v);
      const there = inSet.has(v.id);
      return el('li', { className: 'result' },
        el('span', { className: 'name', text: v.name }),
        el('button', {
          type: 'button',
          text: there ? 'Added' : 'Add',
          disabled: there,
          attrs: { 'aria-label': `${there ? 'Added' : 'Add'} ${v.name}` },
          on: { click: () => addVendor(v.id) },
        }));
    }));
    if (page.items.length === 0) {
      results.append(el('li', { className: 'help', text: 'No vendor of that name.' }));
    }
  } catch (e) {
    showError('add-error', e);
  }
});

function addVendor(vendorId) {
  act('add-error', (id) => api('POST', at('/v1/reassessments', id, '/vendors'),
    { vendor_ids: [vendorId] }), () => `Added ${vendorName(vendorId)}.`)
    .then((ok) => { if (ok) $('search-results').replaceChildren(); });
}

// ---- Start ---------------------------------------------------------------------

// (A reload may bring back the filter the person had chosen.)
state.status = $('status-filter').value;
if (sessionStorage.getItem(KEY_ITEM)) {
  signedIn();
  reloadList();
} else {
  signedOut('');
}
