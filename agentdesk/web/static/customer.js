// The customer 360 of the agent console (issue 8): one customer's profile
// (edit details, claim), identities (masked; full values through the
// audited reveal, where the role allows; add one), vehicles (link one),
// open service orders and deals, open follow-ups (create, complete),
// possible duplicates (open, dismiss with a reason, merge where the role
// allows) and the whole timeline, filtered by channel and paged.
//
// It opens in the page's #c360 region from the search box or a screen-pop.
// Everything comes from the CRM API with the session and the page's CSRF
// token; the server decides visibility and roles, the buttons only spare
// the agent a refusal. Text from the server is only ever set as text (el).
import { el } from './socket.js';
import { t, fmtDateTime, duration } from './i18n.js';

const csrf = document.querySelector('meta[name=csrf-token]')?.content || '';
const meta = (n) => document.querySelector(`meta[name=${n}]`)?.content || '';
const me = { id: meta('user-id'), role: meta('user-role') };
let agents = new Map(); // id → name, from the console's snapshot
let gen = 0;            // the open customer's generation: late answers for another are dropped
let returnFocus = null;

const PAGE = 20;
const channels = [['', 'All'], ['chat', 'chat'], ['email', 'e-mail'], ['voice', 'voice']];
const channelWords = { chat: 'chat', email: 'e-mail', voice: 'voice' };
const openOrder = (o) => o.status !== 'collected';
const openDeal = (d) => d.stage !== 'won' && d.stage !== 'lost';
const supervisor = () => me.role === 'supervisor' || me.role === 'admin';

const causeWords = {
  normal: 'hung up',
  abandoned: 'the caller hung up before an answer',
  busy: 'phone busy',
  no_answer: 'not answered',
  rejected: 'declined',
  failed: 'call failed',
  lost: 'call lost',
};

// setPeople tells the 360 who the agent is and the colleagues' names
// (the console's snapshot), to name a customer's owner.
export function setPeople(self, colleagues) {
  agents = new Map((colleagues || []).map((a) => [a.id, a.name]));
  if (self && self.id) agents.set(self.id, self.name);
}

class APIError extends Error {
  constructor(status, body) {
    super((body && body.message) || `status ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { 'X-CSRF-Token': csrf };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, credentials: 'same-origin', headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  if (res.status !== 204) data = await res.json().catch(() => null);
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}

const root = () => document.getElementById('c360');

// closeCustomer hides the 360 and gives the focus back to where it came from.
export function closeCustomer() {
  const box = root();
  if (!box || box.hidden) return;
  gen++;
  box.hidden = true;
  box.replaceChildren();
  document.body.classList.remove('c360-open');
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
  returnFocus = null;
}

// openCustomer shows customer id's 360; opener gets the focus back on close.
export async function openCustomer(id, opener) {
  const box = root();
  if (!box || !id) return;
  const my = ++gen;
  returnFocus = opener || document.activeElement;
  const title = el('h2', { id: 'c360-title', tabindex: '-1', 'data-testid': 'c360-name' }, t('Loading…'));
  const head = el('header', { class: 'c360-head' }, title,
    el('button', { type: 'button', class: 'c360-close', 'data-testid': 'c360-close', 'aria-label': t('Close the customer 360 (Esc)'), onclick: closeCustomer }, '×'));
  const body = el('div', { class: 'c360-body' });
  box.replaceChildren(head, body);
  box.dataset.customer = id;
  box.hidden = false;
  document.body.classList.add('c360-open');
  title.focus();

  let cust;
  try {
    cust = await api('GET', `/api/customers/${encodeURIComponent(id)}`);
  } catch (e) {
    if (my !== gen) return;
    title.textContent = t('Customer 360');
    body.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.status === 404 ? t('This customer is not visible to you.') : t('Could not load the customer.')));
    return;
  }
  if (my !== gen) return;
  const view = { id, cust, alive: () => my === gen };
  title.textContent = cust.name || t('Unnamed customer');
  if (cust.tier) title.append(' ', el('span', { class: 'tier tier-' + cust.tier, 'data-testid': 'c360-tier' }, t(cust.tier)));
  body.replaceChildren(
    profile(view, title),
    identities(view),
    vehicles(view),
    orders(view),
    deals(view),
    followUps(view),
    duplicates(view),
    timeline(view));
}

// section is one titled part of the 360 with a status line for its own
// messages (role status: announced without moving the focus).
function section(key, title, ...children) {
  const hid = 'c360-h-' + key;
  const status = el('p', { class: 'c360-status', role: 'status', 'data-testid': `c360-${key}-status` });
  const s = el('section', { class: 'c360-section', 'data-testid': `c360-${key}`, 'aria-labelledby': hid },
    el('h3', { id: hid }, t(title)), ...children, status);
  s.say = (text, bad) => { status.textContent = text; status.classList.toggle('error', !!bad); };
  return s;
}

function field(label, input) {
  return el('label', { class: 'c360-field' }, el('span', {}, t(label)), input);
}

// ---- profile -----------------------------------------------------------

function ownerText(c) {
  if (!c.owner_id) return t('none');
  const name = agents.get(c.owner_id);
  if (c.owner_id === me.id) return name ? `${name} (${t('you')})` : t('you');
  return name || t('another user');
}

function languageText(l) {
  if (!l) return t('none');
  if (l.startsWith('zh')) return t('Chinese');
  if (l.startsWith('en')) return t('English');
  return l;
}

function profile(view, title) {
  const dl = el('dl', { class: 'c360-profile' });
  const actions = el('div', { class: 'c360-actions' });
  const s = section('profile', 'Profile', dl, actions);
  const draw = () => {
    const c = view.cust;
    const row = (k, v, testid) => [el('dt', {}, t(k)), el('dd', { 'data-testid': testid }, v)];
    dl.replaceChildren(
      ...row('Name', c.name || t('Unnamed customer'), 'c360-profile-name'),
      ...row('Tier', c.tier ? t(c.tier) : t('none'), 'c360-profile-tier'),
      ...row('Owner', ownerText(c), 'c360-profile-owner'),
      ...row('Language', languageText(c.language), 'c360-profile-language'),
      ...row('Notes', c.notes || t('none'), 'c360-profile-notes'));
    const edit = el('button', { type: 'button', 'data-testid': 'c360-edit', onclick: () => editForm() }, t('Edit details'));
    actions.replaceChildren(edit, c.owner_id ? null : el('button', { type: 'button', 'data-testid': 'c360-claim', onclick: claim }, t('Claim as my customer')));
  };
  const claim = async () => {
    try {
      await api('POST', `/api/customers/${encodeURIComponent(view.id)}/owner`, { owner_id: me.id });
      if (!view.alive()) return;
      view.cust.owner_id = me.id;
      s.say(t('Saved'));
      draw();
    } catch (e) {
      if (view.alive()) s.say(t('Could not save: {error}', { error: e.message }), true);
    }
  };
  const editForm = () => {
    const c = view.cust;
    const name = el('input', { type: 'text', name: 'name', 'data-testid': 'c360-edit-name', maxlength: 200, required: true });
    name.value = c.name || '';
    const language = el('select', { name: 'language', 'data-testid': 'c360-edit-language' },
      el('option', { value: '' }, t('none')), el('option', { value: 'zh' }, t('Chinese')), el('option', { value: 'en' }, t('English')));
    if (c.language && ![...language.options].some((o) => o.value === c.language)) language.append(el('option', { value: c.language }, c.language));
    language.value = c.language || '';
    const notes = el('textarea', { name: 'notes', rows: 3, maxlength: 2000, 'data-testid': 'c360-edit-notes' });
    notes.value = c.notes || '';
    const form = el('form', { class: 'c360-form', 'data-testid': 'c360-edit-form' },
      field('Name', name), field('Language', language), field('Notes', notes),
      el('div', { class: 'c360-actions' },
        el('button', { type: 'submit', class: 'primary', 'data-testid': 'c360-edit-save' }, t('Save')),
        el('button', { type: 'button', onclick: () => { draw(); actions.querySelector('button')?.focus(); } }, t('Cancel'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const patch = {};
      if (name.value.trim() !== (c.name || '')) patch.name = name.value.trim();
      if (language.value !== (c.language || '')) patch.language = language.value || null;
      if (notes.value !== (c.notes || '')) patch.notes = notes.value || null;
      try {
        const rec = Object.keys(patch).length ? await api('PATCH', `/api/customers/${encodeURIComponent(view.id)}`, patch) : c;
        if (!view.alive()) return;
        view.cust = rec;
        title.firstChild.textContent = rec.name || t('Unnamed customer');
        s.say(t('Saved'));
        draw();
        actions.querySelector('button')?.focus();
      } catch (e) {
        if (view.alive()) s.say(t('Could not save: {error}', { error: e.message }), true);
      }
    });
    dl.replaceChildren(form);
    actions.replaceChildren();
    name.focus();
  };
  draw();
  return s;
}

// ---- identities ----------------------------------------------------------

function identities(view) {
  const list = el('ul', { class: 'c360-list', 'data-testid': 'c360-identity-list' });
  const reveal = el('button', { type: 'button', 'data-testid': 'c360-reveal' }, t('Show full values'));
  const kind = el('select', { name: 'kind', 'data-testid': 'c360-identity-kind' },
    ['phone', 'email', 'wechat'].map((k) => el('option', { value: k }, t(k))));
  const value = el('input', { type: 'text', name: 'value', 'data-testid': 'c360-identity-value', maxlength: 320, required: true, autocomplete: 'off' });
  const form = el('form', { class: 'c360-form c360-inline', 'data-testid': 'c360-identity-form', 'aria-label': t('Add an identity') },
    field('Kind', kind), field('Value', value),
    el('button', { type: 'submit', 'data-testid': 'c360-identity-add' }, t('Add')));
  const s = section('identities', 'Identities', list, reveal, el('h4', {}, t('Add an identity')), form);
  // Chat visitor ids identify a browser, not something an agent can use.
  const draw = (ids) => list.replaceChildren(...ids.filter((i) => i.kind !== 'chat').map((i) =>
    el('li', { 'data-testid': 'c360-identity', 'data-kind': i.kind }, el('span', { class: 'muted' }, t(i.kind) + ' '), i.value)));
  draw(view.cust.identities || []);
  reveal.addEventListener('click', async () => {
    reveal.disabled = true;
    try {
      const body = await api('POST', `/api/customers/${encodeURIComponent(view.id)}/reveal`);
      if (!view.alive()) return;
      draw(body.identities || []);
      reveal.remove();
    } catch (e) {
      if (!view.alive()) return;
      reveal.disabled = false;
      s.say(e.status === 403 ? t('Your role does not allow full numbers.') : t('Could not show the number.'), true);
    }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = value.value.trim();
    if (!v) return;
    try {
      await api('POST', `/api/customers/${encodeURIComponent(view.id)}/identities`, { kind: kind.value, value: v });
      // The customer comes back with every identity masked alike.
      const rec = await api('GET', `/api/customers/${encodeURIComponent(view.id)}`);
      if (!view.alive()) return;
      view.cust = rec;
      value.value = '';
      draw(rec.identities || []);
      s.say(t('Added'));
    } catch (e) {
      if (view.alive()) s.say(t('Could not add: {error}', { error: e.message }), true);
    }
  });
  return s;
}

// ---- vehicles ------------------------------------------------------------

function vehicleText(v) {
  return [v.plate, v.vin, [v.make, v.model, v.year].filter(Boolean).join(' ')].filter(Boolean).join(' · ');
}

const plateKey = (p) => String(p || '').replace(/[\s·-]/g, '').toUpperCase();

// findVehicle looks for a vehicle the agent may see with this VIN or
// plate: the search finds its customers, their vehicle lists the vehicle.
// Linking it keeps one vehicle for a household instead of copies.
async function findVehicle(customerID, vin, plate) {
  for (const q of [vin, plate].filter(Boolean)) {
    const page = await api('GET', `/api/search?q=${encodeURIComponent(q)}&limit=5`);
    for (const h of page.hits || []) {
      if (h.match !== 'vin' && h.match !== 'plate') continue;
      const vs = await api('GET', `/api/customers/${encodeURIComponent(h.id)}/vehicles`);
      const found = vs.find((v) => (vin && v.vin && v.vin.toUpperCase() === vin.toUpperCase()) || (plate && v.plate && plateKey(v.plate) === plateKey(plate)));
      if (found && !(found.customers || []).some((l) => l.customer_id === customerID)) return found;
    }
  }
  return null;
}

function vehicles(view) {
  const list = el('ul', { class: 'c360-list', 'data-testid': 'c360-vehicle-list' });
  const input = (name, label, attrs = {}) => {
    const i = el('input', { type: 'text', name, 'data-testid': 'c360-vehicle-' + name, autocomplete: 'off', ...attrs });
    return [i, field(label, i)];
  };
  const [plate, plateF] = input('plate', 'Plate', { maxlength: 16 });
  const [vin, vinF] = input('vin', 'VIN', { maxlength: 17 });
  const [make, makeF] = input('make', 'Make', { maxlength: 60 });
  const [model, modelF] = input('model', 'Model', { maxlength: 60 });
  const [year, yearF] = input('year', 'Year', { type: 'number', min: 1950, max: 2100, inputmode: 'numeric' });
  const role = el('select', { name: 'role', 'data-testid': 'c360-vehicle-role' },
    ['owner', 'driver', 'household', 'fleet'].map((r) => el('option', { value: r }, t(r))));
  const choice = el('div', { class: 'c360-choice', 'data-testid': 'c360-vehicle-choice' });
  const form = el('form', { class: 'c360-form c360-grid', 'data-testid': 'c360-vehicle-form', 'aria-label': t('Link a vehicle') },
    plateF, vinF, makeF, modelF, yearF, field('Role', role),
    el('div', { class: 'c360-actions' }, el('button', { type: 'submit', 'data-testid': 'c360-vehicle-link' }, t('Link it'))));
  const s = section('vehicles', 'Vehicles', list, el('h4', {}, t('Link a vehicle')), form, choice);
  const load = async () => {
    try {
      const vs = await api('GET', `/api/customers/${encodeURIComponent(view.id)}/vehicles`);
      if (!view.alive()) return;
      list.replaceChildren(...(vs.length ? vs.map((v) => {
        const link = (v.customers || []).find((l) => l.customer_id === view.id);
        return el('li', { 'data-testid': 'c360-vehicle', 'data-vehicle': v.id },
          el('b', {}, v.plate || v.vin || '—'), ' ', [v.make, v.model, v.year].filter(Boolean).join(' '),
          v.vin && v.plate ? el('span', { class: 'muted' }, ` · ${v.vin}`) : null,
          link ? el('span', { class: 'muted' }, ` · ${t(link.role)}`) : null);
      }) : [el('li', { class: 'muted' }, t('No vehicles.'))]));
    } catch (e) {
      if (view.alive()) s.say(t('Could not load the customer.'), true);
    }
  };
  const done = () => {
    for (const i of [plate, vin, make, model, year]) i.value = '';
    choice.replaceChildren();
    s.say(t('Linked'));
    load();
  };
  const fail = (e) => { if (view.alive()) s.say(t('Could not link: {error}', { error: e.message }), true); };
  const create = async () => {
    const body = { role: role.value };
    for (const [k, i] of [['plate', plate], ['vin', vin], ['make', make], ['model', model]]) if (i.value.trim()) body[k] = i.value.trim();
    if (year.value) body.year = Number(year.value);
    await api('POST', `/api/customers/${encodeURIComponent(view.id)}/vehicles`, body);
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    choice.replaceChildren();
    if (!plate.value.trim() && !vin.value.trim()) { s.say(t('Give a plate or a VIN.'), true); return; }
    try {
      const found = await findVehicle(view.id, vin.value.trim(), plate.value.trim());
      if (!view.alive()) return;
      if (!found) { await create(); if (view.alive()) done(); return; }
      // One that exists is linked only when the agent says so: the same
      // plate on another car is a typo more often than a household.
      const linkBtn = el('button', { type: 'button', class: 'primary', 'data-testid': 'c360-vehicle-link-existing', onclick: async () => {
        try {
          await api('POST', `/api/customers/${encodeURIComponent(view.id)}/vehicles`, { vehicle_id: found.id, role: role.value });
          if (view.alive()) done();
        } catch (e) { fail(e); }
      } }, t('Link that vehicle'));
      choice.replaceChildren(el('p', {}, t('A vehicle with this plate or VIN exists: {vehicle}.', { vehicle: vehicleText(found) })),
        linkBtn, ' ', el('button', { type: 'button', 'data-testid': 'c360-vehicle-create', onclick: async () => {
          try { await create(); if (view.alive()) done(); } catch (e) { fail(e); }
        } }, t('Create a new one')));
      linkBtn.focus();
    } catch (e) { fail(e); }
  });
  load();
  return s;
}

// ---- orders and deals ----------------------------------------------------

function orders(view) {
  const list = el('ul', { class: 'c360-list', 'data-testid': 'c360-order-list' });
  const s = section('orders', 'Service orders', list);
  api('GET', `/api/customers/${encodeURIComponent(view.id)}/orders`).then((os) => {
    if (!view.alive()) return;
    const open = os.filter(openOrder);
    list.replaceChildren(...(open.length ? open.map((o) => el('li', { 'data-testid': 'c360-order' },
      el('b', {}, o.number), ` ${t(o.status)} · ${t(o.kind)}`,
      o.description ? ` · ${o.description}` : '',
      o.promised_at ? ` · ${t('promised {date}', { date: fmtDateTime(o.promised_at) })}` : '',
      o.amount ? ` · ¥${o.amount}` : '')) : [el('li', { class: 'muted' }, t('No open service orders.'))]));
  }).catch(() => { if (view.alive()) s.say(t('Could not load the customer.'), true); });
  return s;
}

function deals(view) {
  const list = el('ul', { class: 'c360-list', 'data-testid': 'c360-deal-list' });
  const s = section('deals', 'Deals', list);
  api('GET', `/api/customers/${encodeURIComponent(view.id)}/deals`).then((ds) => {
    if (!view.alive()) return;
    const open = ds.filter(openDeal);
    list.replaceChildren(...(open.length ? open.map((d) => el('li', { 'data-testid': 'c360-deal' },
      el('b', {}, t(d.stage)), d.vehicle_desc ? ` · ${d.vehicle_desc}` : '', d.value ? ` · ¥${d.value}` : '',
      d.expected_close ? ` · ${d.expected_close}` : '')) : [el('li', { class: 'muted' }, t('No open deals.'))]));
  }).catch(() => { if (view.alive()) s.say(t('Could not load the customer.'), true); });
  return s;
}

// ---- follow-ups ----------------------------------------------------------

function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function followUps(view) {
  const list = el('ul', { class: 'c360-list', 'data-testid': 'c360-followup-list' });
  const kind = el('select', { name: 'kind', 'data-testid': 'c360-followup-kind' },
    ['reminder', 'callback'].map((k) => el('option', { value: k }, t(k))));
  const due = el('input', { type: 'datetime-local', name: 'due', required: true, 'data-testid': 'c360-followup-due' });
  due.value = localInput(new Date(Date.now() + 24 * 3600 * 1000));
  const note = el('input', { type: 'text', name: 'note', maxlength: 2000, 'data-testid': 'c360-followup-note' });
  const form = el('form', { class: 'c360-form c360-grid', 'data-testid': 'c360-followup-form', 'aria-label': t('Create a follow-up') },
    field('Kind', kind), field('Due', due), field('Note', note),
    el('div', { class: 'c360-actions' }, el('button', { type: 'submit', 'data-testid': 'c360-followup-create' }, t('Create'))));
  const s = section('followups', 'Follow-ups', list, el('h4', {}, t('Create a follow-up')), form);
  const load = async () => {
    try {
      const fs = await api('GET', `/api/customers/${encodeURIComponent(view.id)}/follow-ups?open=true`);
      if (!view.alive()) return;
      list.replaceChildren(...(fs.length ? fs.map((f) => el('li', { 'data-testid': 'c360-followup' },
        el('b', {}, t(f.kind)), ` · ${t('due {date}', { date: fmtDateTime(f.due_at) })}`, f.note ? ` · ${f.note}` : '',
        f.assigned_to !== me.id && agents.get(f.assigned_to) ? el('span', { class: 'muted' }, ` · ${agents.get(f.assigned_to)}`) : null,
        ' ', el('button', { type: 'button', class: 'link', 'data-testid': 'c360-followup-done', onclick: async () => {
          try {
            await api('PATCH', `/api/follow-ups/${encodeURIComponent(f.id)}`, { done: true });
            if (view.alive()) load();
          } catch (e) { if (view.alive()) s.say(t('Could not save: {error}', { error: e.message }), true); }
        } }, t('Done')))) : [el('li', { class: 'muted' }, t('No open follow-ups.'))]));
    } catch (e) {
      if (view.alive()) s.say(t('Could not load the customer.'), true);
    }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const when = new Date(due.value);
    if (Number.isNaN(when.getTime())) return;
    try {
      await api('POST', `/api/customers/${encodeURIComponent(view.id)}/follow-ups`,
        { assigned_to: me.id, kind: kind.value, due_at: when.toISOString(), note: note.value.trim() });
      if (!view.alive()) return;
      note.value = '';
      s.say(t('Created'));
      load();
    } catch (e) {
      if (view.alive()) s.say(t('Could not create: {error}', { error: e.message }), true);
    }
  });
  load();
  return s;
}

// ---- possible duplicates -------------------------------------------------

function duplicates(view) {
  const list = el('ul', { class: 'c360-list', 'data-testid': 'c360-duplicate-list' });
  const s = section('duplicates', 'Possible duplicates', list);
  const load = async () => {
    try {
      const ds = await api('GET', `/api/customers/${encodeURIComponent(view.id)}/duplicates`);
      if (!view.alive()) return;
      list.replaceChildren(...(ds.length ? ds.map((d) => duplicateItem(view, d, s, load)) : [el('li', { class: 'muted' }, t('No possible duplicates.'))]));
    } catch (e) {
      if (view.alive()) s.say(t('Could not load the customer.'), true);
    }
  };
  load();
  return s;
}

// duplicateItem is one suggestion: open it, say it is another person (a
// reason is required and kept), or merge it into the open customer
// (supervisors and admins; the server checks).
function duplicateItem(view, d, s, reload) {
  const reason = el('input', { type: 'text', maxlength: 500, 'data-testid': 'c360-duplicate-reason', 'aria-label': t('Reason (required)'), placeholder: t('Reason (required)') });
  const need = () => {
    const r = reason.value.trim();
    if (!r) { s.say(t('Give a reason.'), true); reason.focus(); }
    return r;
  };
  const dismiss = el('button', { type: 'button', 'data-testid': 'c360-duplicate-dismiss', onclick: async () => {
    const r = need();
    if (!r) return;
    try {
      await api('POST', `/api/customers/${encodeURIComponent(view.id)}/duplicates/dismiss`, { other_id: d.customer_id, reason: r });
      if (view.alive()) { s.say(t('Dismissed')); reload(); }
    } catch (e) { if (view.alive()) s.say(t('Could not dismiss: {error}', { error: e.message }), true); }
  } }, t('Not the same person'));
  const merge = supervisor() ? el('button', { type: 'button', 'data-testid': 'c360-duplicate-merge', onclick: async () => {
    const r = need();
    if (!r) return;
    try {
      await api('POST', `/api/customers/${encodeURIComponent(view.id)}/merge`, { others: [d.customer_id], reason: r });
      if (view.alive()) openCustomer(view.id, returnFocus); // everything may have moved: redraw all
    } catch (e) { if (view.alive()) s.say(t('Could not merge: {error}', { error: e.message }), true); }
  } }, t('Merge into this customer')) : null;
  return el('li', { class: 'c360-duplicate', 'data-testid': 'c360-duplicate', 'data-customer': d.customer_id },
    el('div', {}, el('b', {}, d.name || t('Unnamed customer')), ' ',
      el('span', { class: 'muted' }, (d.reasons || []).map((r) => t(r)).join(', '), ` · ${t('score {n}', { n: d.score })}`)),
    el('div', { class: 'c360-actions' },
      el('button', { type: 'button', class: 'link', 'data-testid': 'c360-duplicate-open', onclick: () => openCustomer(d.customer_id, returnFocus) }, t('Open')),
      reason, dismiss, merge));
}

// ---- timeline ------------------------------------------------------------

// The timeline pages by time, newest first; each channel filter keeps its
// own pages (the API filters by channel), so switching back and forth
// reloads nothing.
function timeline(view) {
  const pages = new Map(); // channel ('' for all) → { items, before, done }
  const st = { channel: '', busy: false };
  const page = () => {
    if (!pages.has(st.channel)) pages.set(st.channel, { items: [], before: '', done: false });
    return pages.get(st.channel);
  };
  const list = el('div', { class: 'c360-timeline', 'data-testid': 'c360-timeline', role: 'list' });
  const more = el('button', { type: 'button', 'data-testid': 'c360-timeline-more' }, t('Load more'));
  const end = el('p', { class: 'muted', 'data-testid': 'c360-timeline-end', hidden: true }, t('No more history.'));
  const filters = el('div', { class: 'c360-filters', role: 'group', 'aria-label': t('Timeline') },
    channels.map(([c, label]) => el('button', {
      type: 'button', 'data-channel': c, 'data-testid': 'c360-filter', 'aria-pressed': c === '' ? 'true' : 'false',
      onclick: (ev) => {
        st.channel = c;
        for (const b of filters.querySelectorAll('button')) b.setAttribute('aria-pressed', b === ev.currentTarget ? 'true' : 'false');
        draw();
        const p = page();
        if (!p.done && p.items.length === 0) loadMore();
      },
    }, t(label))));
  const s = section('timeline', 'Timeline', filters, list, more, end);
  const draw = () => {
    const p = page();
    list.replaceChildren(...(p.items.length ? p.items.map(timelineItem)
      : p.done ? [el('p', { class: 'muted' }, t('Nothing on this channel yet.'))] : []));
    more.hidden = p.done;
    end.hidden = !p.done;
  };
  const loadMore = async () => {
    if (st.busy || page().done) return;
    st.busy = true;
    more.disabled = true;
    const channel = st.channel;
    const p = page();
    try {
      const q = `limit=${PAGE}` + (p.before ? `&before=${encodeURIComponent(p.before)}` : '') +
        (channel ? `&channel=${encodeURIComponent(channel)}` : '');
      const items = await api('GET', `/api/customers/${encodeURIComponent(view.id)}/timeline?${q}`);
      if (!view.alive()) return;
      p.items.push(...items);
      if (items.length < PAGE) p.done = true;
      else p.before = items[items.length - 1].at;
      if (st.channel === channel) draw();
    } catch (e) {
      if (view.alive()) s.say(t('Could not load the timeline.'), true);
    } finally {
      st.busy = false;
      more.disabled = false;
    }
  };
  more.addEventListener('click', loadMore);
  loadMore();
  return s;
}

function callLine(k) {
  const bits = [t(k.direction === 'outbound' ? 'outbound' : 'inbound'), t('Waited {t}', { t: duration(k.wait_seconds) })];
  if (k.answered_at) {
    bits.push(t('talked {t}', { t: duration(k.talk_seconds) }));
    if (k.hold_seconds >= 1) bits.push(t('held {t}', { t: duration(k.hold_seconds) }));
    if (k.wrap_up_seconds >= 1) bits.push(t('wrap-up {t}', { t: duration(k.wrap_up_seconds) }));
  } else if (k.ended_at) {
    bits.push(t('not answered'));
  }
  if (k.cause) bits.push(t('ended: {cause}', { cause: t(causeWords[k.cause] || k.cause) }));
  if (k.recording_url) bits.push(t('Recording available'));
  return el('p', { class: 'c360-call', 'data-testid': 'c360-call' }, bits.join(' · '));
}

const clip = (s, n) => (s.length > n ? s.slice(0, n) + '…' : s);

function timelineItem(it) {
  const msgs = it.messages || [];
  return el('article', { class: 'timeline-item', role: 'listitem', 'data-testid': 'c360-timeline-item', 'data-channel': it.channel },
    el('header', {}, el('span', { class: 'chan' }, t(channelWords[it.channel] || it.channel)), ` ${fmtDateTime(it.at)} · ${t(it.state)}`, it.subject ? ` · ${it.subject}` : ''),
    it.call ? callLine(it.call) : null,
    it.wrap_up ? el('p', { class: 'wrapup-note' }, t('Wrap-up: '), it.wrap_up) : null,
    msgs.length ? el('div', {}, msgs.map((m) => el('div', { class: `msg msg-${m.author_kind}` },
      el('span', { class: 'meta' }, `${m.author_name || m.author_kind}: `), clip(m.body || '', 600)))) : null);
}

document.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Escape') return;
  const box = root();
  if (box && !box.hidden && box.contains(document.activeElement)) { ev.preventDefault(); closeCustomer(); }
});
