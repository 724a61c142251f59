// Admin page: each queue's and agent's form is sent to the JSON API
// (PATCH /api/queues/{id}, PATCH /api/agents/{id}) with the session's CSRF
// token, so the page and the API validate alike; the API's message is
// shown as it comes. Data is only ever set as text.
const csrf = document.querySelector('meta[name=csrf-token]')?.content ?? '';

// parseSkills reads "sales=5, service=3" into {sales: 5, service: 3}; it
// throws with a message for the page on anything else.
export function parseSkills(text) {
  const out = {};
  for (const part of text.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const m = /^([^=\s]+)\s*=\s*(\d+)$/.exec(p);
    if (!m) throw new Error(`Skills: "${p}" is not name=level.`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function whole(form, name) {
  const v = form.elements[name].value.trim();
  if (!/^\d+$/.test(v)) throw new Error(`${form.elements[name].labels?.[0]?.firstChild?.textContent.trim() ?? name} must be a whole number.`);
  return Number(v);
}

// changed tells whether a field differs from the value the page rendered,
// so only what the admin changed is sent and audited.
function changed(field) {
  if (field.tagName === 'SELECT') return [...field.options].some((o) => o.selected !== o.defaultSelected);
  return field.value !== field.defaultValue;
}

// settle makes the saved values the form's new baseline.
function settle(form) {
  for (const f of form.elements) {
    if (f.tagName === 'SELECT') for (const o of f.options) o.defaultSelected = o.selected;
    else if (f.tagName === 'INPUT') f.defaultValue = f.value;
  }
}

function queueBody(form) {
  const e = form.elements;
  const body = {};
  if (changed(e.strategy)) body.strategy = e.strategy.value;
  for (const name of ['sla_seconds', 'wrap_up_seconds', 'offer_timeout_seconds']) {
    if (changed(e[name])) body[name] = whole(form, name);
  }
  // Empty: no limit (null clears it).
  if (changed(e.max_length)) body.max_length = e.max_length.value.trim() === '' ? null : whole(form, 'max_length');
  return body;
}

function agentBody(form) {
  const e = form.elements;
  const body = {};
  for (const ch of ['voice', 'chat', 'email']) {
    if (changed(e[ch])) (body.capacity ??= {})[ch] = whole(form, ch);
  }
  if (changed(e.skills)) body.skills = parseSkills(e.skills.value);
  return body;
}

async function send(form) {
  const status = form.querySelector('.admin-status');
  const button = form.querySelector('button[type=submit]');
  status.classList.remove('error');
  status.textContent = '';
  let body;
  try {
    body = form.dataset.kind === 'queue' ? queueBody(form) : agentBody(form);
  } catch (e) {
    status.classList.add('error');
    status.textContent = e.message;
    return;
  }
  if (Object.keys(body).length === 0) {
    status.textContent = 'Nothing changed.';
    return;
  }
  const url = `/api/${form.dataset.kind === 'queue' ? 'queues' : 'agents'}/${encodeURIComponent(form.dataset.id)}`;
  button.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    const res = await fetch(url, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    let data = null;
    try { data = await res.json(); } catch { /* not JSON: keep the status line */ }
    if (!res.ok) {
      status.classList.add('error');
      status.textContent = data?.message || `Not saved: the server answered ${res.status}.`;
      return;
    }
    settle(form);
    status.textContent = 'Saved.';
    refreshAudit();
  } catch {
    status.classList.add('error');
    status.textContent = 'Not saved: the server could not be reached.';
  } finally {
    button.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

// names maps the ids the page knows (queues, agents, the admin) to names,
// for the audit rows as the server renders them.
function names() {
  const m = new Map();
  for (const f of document.querySelectorAll('form[data-id]')) m.set(f.dataset.id, f.dataset.name);
  if (document.body.dataset.user) m.set(document.body.dataset.user, document.body.dataset.userName);
  return m;
}

function dataText(d) {
  return Object.keys(d || {}).sort().map((k) => `${k}: ${typeof d[k] === 'string' ? d[k] : JSON.stringify(d[k])}`).join('; ');
}

async function refreshAudit() {
  const res = await fetch('/api/audit?limit=20', { credentials: 'same-origin' }).catch(() => null);
  if (!res?.ok) return; // the rendered list stays; a reload shows the new entries
  const { entries } = await res.json();
  const known = names();
  const name = (id) => known.get(id) ?? id;
  const rows = entries.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.testid = 'audit-row';
    const at = new Date(e.at);
    const time = document.createElement('time');
    time.dateTime = at.toISOString();
    time.textContent = `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    const cells = [time, name(e.actor_id), e.action, `${e.target_kind} ${name(e.target_id)}`, dataText(e.data)];
    for (const c of cells) {
      const td = document.createElement('td');
      if (typeof c === 'string') td.textContent = c; else td.append(c);
      tr.append(td);
    }
    return tr;
  });
  document.getElementById('audit-rows').replaceChildren(...rows);
}

for (const form of document.querySelectorAll('form.admin-form')) {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    send(form);
  });
}
