// The agent console: presence, offers with the screen-pop, and the contacts
// the agent holds. All state is rebuilt from the server's snapshot after
// every (re)connect; text from customers is only ever set as text.
import { connect, el, fmtTime, fmtDate } from './socket.js';
import { callbackPanel } from './callbacks.js';
import { emailPanel, emailFrame } from './email.js';
import { callPanel, callFrame, callReply, callRinging, callSummary, dropCall, dropRinging, draftNote, ringingCards, setCall, withdrawnText } from './call.js';
import { t } from './i18n.js';
import { openCustomer, setPeople } from './customer.js';

const csrf = document.querySelector('meta[name=csrf-token]').content;
const offers = new Map();   // offer_id → offer frame
const contacts = new Map(); // contact_id → view
let queues = [];            // [{id, name}] for transfers
let colleagues = [];        // [{id, name}] for transfers to a named agent
let selected = null;
let sock;

function toast(text) {
  const box = el('div', { class: 'toast', 'data-testid': 'toast', role: 'status' }, text,
    el('button', { class: 'dismiss', 'aria-label': t('Dismiss'), onclick: () => box.remove() }, '×'));
  document.getElementById('toasts').append(box);
  setTimeout(() => box.remove(), 6000);
}

// ---- screen-pop ----------------------------------------------------------

function section(title, items) {
  if (!items || items.length === 0) return null;
  return el('section', { class: 'pop-section' }, el('h4', {}, t(title)), el('ul', {}, items));
}

function identityItems(ids) {
  return ids.filter((i) => i.kind !== 'chat').map((i) => el('li', {}, el('span', { class: 'muted' }, t(i.kind) + ' '), i.value));
}

// Identities come masked (+86 138****8000). "Show number" asks for the full
// values: the server allows it by role (403 otherwise) and audits each view.
function contactDetails(pop) {
  const s = section('Contact details', identityItems(pop.identities || []));
  const c = pop.customer;
  if (!s || !c || c.restricted) return s;
  const fail = (msg) => { toast(msg); btn.disabled = false; };
  const btn = el('button', { class: 'reveal', 'data-action': 'reveal', onclick: async () => {
    btn.disabled = true;
    try {
      const res = await fetch(`/api/customers/${encodeURIComponent(c.id)}/reveal`,
        { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } });
      if (res.status === 403) return toast(t('Your role does not allow full numbers.'));
      if (!res.ok) return fail(t('Could not show the number.'));
      const body = await res.json();
      s.querySelector('ul').replaceChildren(...identityItems(body.identities || []));
      btn.remove();
    } catch (e) {
      fail(t('Could not show the number.'));
    }
  } }, t('Show number'));
  s.append(btn);
  return s;
}

// candidateItems lists the customers an ambiguous contact may be. For a
// contact the agent holds (contactID given), each visible one has a button
// that says so (choose_customer); the server answers with the refreshed
// screen_pop. On an offer the names alone show: the agent does not hold it
// yet.
function candidateItems(cands, contactID) {
  return cands.map((k) => {
    if (k.restricted) return el('li', { 'data-testid': 'candidate' }, t('Restricted customer (outside your sites)'));
    const li = el('li', { 'data-testid': 'candidate', 'data-customer': k.id }, el('span', { class: 'candidate-name' }, k.name || t('Unnamed customer')));
    if (contactID) {
      const btn = el('button', { class: 'choose', 'data-action': 'choose-customer', 'aria-label': t('This is the customer: {name}', { name: k.name || t('unnamed') }),
        onclick: () => {
          if (!sock.send({ type: 'choose_customer', id: 'choose:' + contactID, contact_id: contactID, customer_id: k.id })) {
            toast(t('Not connected; try again.'));
            return;
          }
          li.closest('ul').querySelectorAll('button.choose').forEach((b) => { b.disabled = true; });
        } }, t('This is the customer'));
      li.append(' ', btn);
    }
    return li;
  });
}

function screenPop(pop, nameTestID, contactID) {
  const c = pop.customer;
  // A customer outside the agent's sites comes restricted: id only.
  const name = c ? (c.restricted ? t('Restricted customer (outside your sites)') : c.name || t('Unnamed customer')) : t('Unknown visitor');
  return el('div', { class: 'pop' },
    el('div', { class: 'pop-head' },
      el('span', { class: 'pop-name', 'data-testid': nameTestID }, name),
      c && c.tier ? el('span', { class: 'tier tier-' + c.tier }, t(c.tier)) : null,
      // The customer 360 (customer.js) opens beside the workspace.
      c && c.id && !c.restricted ? el('button', { type: 'button', class: 'link open-360', 'data-testid': 'open-360',
        'aria-label': t('Open the customer 360'), onclick: (ev) => openCustomer(c.id, ev.currentTarget) }, t('Customer 360')) : null),
    c && c.notes ? el('p', { class: 'notes' }, c.notes) : null,
    section('Possible customers', candidateItems(pop.candidates || [], contactID)),
    // Chat visitor ids identify a browser, not something an agent can use.
    contactDetails(pop),
    section('Vehicles', (pop.vehicles || []).map((v) => el('li', {},
      el('b', {}, v.plate || v.vin), ` ${v.make} ${v.model}${v.year ? ' ' + v.year : ''}`))),
    section('Open service orders', (pop.service_orders || []).map((o) => el('li', {},
      el('b', {}, o.number), ` ${t(o.status)}`, o.plate ? ` · ${o.plate}` : '',
      o.description ? ` · ${o.description}` : '', o.promised_at ? ` · ${t('promised {date}', { date: fmtDate(o.promised_at) })}` : ''))),
    section('Open deals', (pop.deals || []).map((d) => el('li', {}, `${t(d.stage)} · ${d.vehicle_desc} · ¥${d.value}`))),
    section('Recent contacts', (pop.recent || []).map((r) => el('li', {},
      el('span', { class: 'chan' }, r.channel), ` ${fmtDate(r.at)} · ${t(r.state)}`, r.subject ? ` · ${r.subject}` : '',
      r.snippet ? el('div', { class: 'snippet' }, r.snippet) : null))),
  );
}

// ---- offers --------------------------------------------------------------

function renderOffers() {
  const box = document.getElementById('offers');
  box.replaceChildren(...[...offers.values()].map((o) => {
    const countdown = el('span', { class: 'countdown' });
    const card = el('article', { class: 'offer', 'data-testid': 'offer', 'data-offer': o.offer_id },
      el('header', {},
        el('span', { class: 'chan' }, o.contact.channel),
        el('span', { class: 'queue', 'data-testid': 'offer-queue' },
          o.contact.queue_name || (queues.find((q) => q.id === o.contact.queue_id) || {}).name || ''),
        el('span', { class: 'reason' }, o.reason),
        countdown),
      // The screen-pop follows the offer in its own frame.
      o.screen_pop ? screenPop(o.screen_pop, 'offer-customer-name')
        : el('p', { class: 'pop muted' }, o.pop_error ? t('Customer details could not be loaded.') : t('Loading the customer…')),
      el('footer', {},
        el('button', { class: 'accept', 'data-action': 'accept', onclick: () => answer(o, 'accept') }, t('Accept (A)')),
        el('button', { class: 'reject', 'data-action': 'reject', onclick: () => answer(o, 'reject') }, t('Reject (R)'))));
    card._countdown = () => {
      const left = Math.max(0, Math.round((new Date(o.expires_at) - Date.now()) / 1000));
      countdown.textContent = left + ' s';
    };
    card._countdown();
    return card;
  }), ...ringingCards((p) => screenPop(p, 'ringing-customer-name')));
  document.title = (offers.size ? `(${offers.size}) ` : '') + 'Switchboard';
}

setInterval(() => document.querySelectorAll('.offer').forEach((c) => c._countdown && c._countdown()), 1000);

function answer(o, kind) {
  const frame = { type: kind, offer_id: o.offer_id };
  if (kind === 'reject') frame.reason = 'busy';
  sock.send(frame);
  if (kind === 'reject') { offers.delete(o.offer_id); renderOffers(); }
}

document.addEventListener('keydown', (ev) => {
  // Typing anywhere (the e-mail editor is contenteditable) never answers an offer.
  if (ev.target.closest('input, textarea, select, [contenteditable]') || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const first = offers.values().next().value;
  if (!first) return;
  if (ev.key === 'a' || ev.key === 'A') answer(first, 'accept');
  if (ev.key === 'r' || ev.key === 'R') answer(first, 'reject');
});

// ---- contacts ------------------------------------------------------------

function hold(item) {
  const id = item.contact.id;
  let v = contacts.get(id);
  if (!v) {
    v = { id, messages: new Map(), pending: new Map(), unread: 0, closed: false };
    contacts.set(id, v);
  }
  v.contact = item.contact;
  v.pop = item.screen_pop;
  v.callback = item.callback; // set only for a callback attempt
  setCall(v, item.call); // set only for a voice contact's call
  dropRinging(id); // an observed ring the agent answered
  for (const m of item.messages || []) v.messages.set(m.seq, m);
  v.customerRead = Math.max(v.customerRead || 0, item.contact.customer_read_seq || 0);
  v.agentRead = Math.max(v.agentRead || 0, item.contact.agent_read_seq || 0);
  if (!selected) selected = id;
  return v;
}

function renderTabs() {
  const tabs = document.getElementById('tabs');
  tabs.replaceChildren(...[...contacts.values()].map((v) => el('button', {
    class: 'tab' + (v.id === selected ? ' selected' : '') + (v.closed ? ' closed' : ''),
    'data-testid': 'contact-tab',
    onclick: () => { selected = v.id; v.unread = 0; renderAll(); },
  }, el('span', { class: 'chan' }, v.contact.channel), ' ',
  (v.pop && v.pop.customer && v.pop.customer.name) || t('Visitor'),
  v.unread ? el('span', { class: 'badge' }, v.unread) : null)));
}

// ---- chat extras: attachments, safe links, receipts, typing (issue 5) ----

// Customer text is only ever text; http(s) links become anchors, nothing else.
function bodyEl(text) {
  const parts = String(text).split(/(https?:\/\/[^\s<>"']+)/);
  return el('div', { class: 'body' }, parts.map((p, i) => (i % 2 === 1
    ? el('a', { href: p, target: '_blank', rel: 'noopener noreferrer' }, p) : p)));
}

function attachmentEl(v, a) {
  const url = `/api/contacts/${encodeURIComponent(v.id)}/attachments/${encodeURIComponent(a.id)}`;
  const image = a.content_type.startsWith('image/');
  return el('div', { class: 'body attachment', 'data-testid': 'attachment' },
    el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', download: image ? null : a.name },
      image ? el('img', { class: 'thumb', src: url, alt: a.name, 'data-testid': 'attachment-thumb' }) : `📄 ${a.name}`));
}

// ✓ delivered (stored, so the visitor's widget has it or will on resume),
// ✓✓ read by the visitor.
function receipt(v, m) {
  if (m.author_kind !== 'agent') return null;
  const read = m.seq <= (v.customerRead || 0);
  return el('span', { class: 'receipt' + (read ? ' read' : ''), 'data-testid': 'receipt', title: read ? t('Read') : t('Delivered') }, read ? '✓✓' : '✓');
}

// markRead tells the server the agent has seen the selected chat's lines.
function markRead(v) {
  if (!v || v.closed || v.id !== selected || document.visibilityState === 'hidden' || v.contact.channel !== 'chat') return;
  const last = Math.max(0, ...v.messages.keys());
  if (last > (v.agentRead || 0) && sock.send({ type: 'read', contact_id: v.id, seq: last })) v.agentRead = last;
}

function chatNotices(v) {
  const out = [];
  if (v.typingUntil > Date.now()) out.push(el('div', { class: 'typing muted', 'data-testid': 'typing' }, t('The visitor is typing…')));
  if (v.endedByCustomer) out.push(el('div', { class: 'notice', 'data-testid': 'ended-notice' }, t('The visitor ended the chat.')));
  return out;
}

setInterval(() => {
  for (const v of contacts.values()) if (v.typingUntil && v.typingUntil <= Date.now()) { v.typingUntil = 0; if (!v.closed) refresh(v); }
}, 1000);
document.addEventListener('visibilitychange', () => markRead(contacts.get(selected)));

function transcript(v) {
  const lines = [...v.messages.values()].sort((a, b) => a.seq - b.seq).map((m) =>
    el('div', { class: `msg msg-${m.author_kind}`, 'data-seq': m.seq },
      el('div', { class: 'meta' }, `${m.author_name || m.author_kind} · ${fmtTime(m.at)}`, receipt(v, m)),
      m.attachment ? attachmentEl(v, m.attachment) : null,
      m.attachment && m.body === m.attachment.name ? null : bodyEl(m.body)));
  const seen = new Set([...v.messages.values()].map((m) => m.client_id).filter(Boolean));
  for (const [cid, body] of v.pending) {
    if (seen.has(cid)) { v.pending.delete(cid); continue; }
    lines.push(el('div', { class: 'msg msg-agent pending' }, el('div', { class: 'meta' }, t('sending…')), el('div', { class: 'body' }, body)));
  }
  lines.push(...chatNotices(v));
  return lines;
}

// The agent's file (image or PDF) for the visitor: the server checks it
// by content and size as it checks the visitor's, stores it and sends the
// line (chatUpload); it comes back here as any line does.
function chatFile(v) {
  if (v.contact.channel !== 'chat') return null;
  const file = el('input', { type: 'file', 'data-testid': 'chat-file', 'aria-label': t('Send a file'), accept: 'image/png,image/jpeg,image/gif,image/webp,application/pdf' });
  file.addEventListener('change', async () => {
    const f = file.files[0];
    if (!f) return;
    const q = `name=${encodeURIComponent(f.name)}&client_id=f-${Math.random().toString(36).slice(2, 10)}`;
    const res = await fetch(`/api/contacts/${encodeURIComponent(v.id)}/chat/attachments?${q}`,
      { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf }, body: f }).catch(() => null);
    file.value = '';
    if (!res || !res.ok) toast((res && (await res.json().catch(() => ({}))).message) || t('The file was not sent.'));
  });
  return file;
}

function panelFor(v) {
  if (v.panel) return v.panel;
  const list = el('div', { class: 'transcript', 'data-testid': 'transcript', 'aria-live': 'polite' });
  const input = el('textarea', { 'data-testid': 'chat-input', rows: 3, placeholder: t('Write a reply… (Enter sends, Shift+Enter new line)'), maxlength: 4000 });
  const send = () => {
    const body = input.value.trim();
    if (!body) return;
    const cid = 'a-' + Math.random().toString(36).slice(2, 10);
    if (sock.send({ type: 'send', contact_id: v.id, client_id: cid, body })) {
      v.pending.set(cid, body);
      input.value = '';
      refresh(v);
    } else toast(t('Not connected; your reply was kept.'));
  };
  input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); send(); } });
  // Typing reaches the visitor at most every 2 s; never stored.
  input.addEventListener('input', () => {
    if (v.contact.channel === 'chat' && input.value && Date.now() - (v.typedAt || 0) > 2000) {
      v.typedAt = Date.now();
      sock.send({ type: 'typing', contact_id: v.id });
    }
  });
  // The wrap-up note is written in the wrap-up step, after closing.
  const closeBtn = el('button', { 'data-testid': 'close', class: 'close', onclick: () => sock.send({ type: 'close', contact_id: v.id }) }, t('Close and wrap up'));
  // One list: another queue, or a named colleague (offered to them first,
  // then to this contact's queue if they cannot take it in time).
  const target = el('select', { 'data-testid': 'transfer-queue', 'aria-label': t('Transfer to a queue or a colleague') },
    el('optgroup', { label: t('Queues') },
      queues.filter((q) => q.id !== v.contact.queue_id).map((q) => el('option', { value: q.id, 'data-kind': 'queue' }, q.name))),
    colleagues.length ? el('optgroup', { label: t('Colleagues') },
      colleagues.map((a) => el('option', { value: a.id, 'data-kind': 'agent' }, a.name))) : null);
  const transferBtn = el('button', { 'data-testid': 'transfer', onclick: () => {
    const opt = target.selectedOptions[0];
    if (!opt) return;
    const f = { type: 'transfer', contact_id: v.id };
    if (opt.dataset.kind === 'agent') f.agent_id = opt.value; else f.queue_id = opt.value;
    sock.send(f);
  } }, t('Transfer'));
  const work = el('div', { class: 'work' }, callbackPanel(v, csrf, toast), emailPanel(v, csrf, toast),
    callPanel(v, (f) => sock.send(f), toast), list,
    el('div', { class: 'composer' }, input, chatFile(v), el('button', { 'data-testid': 'send', class: 'send', onclick: send }, t('Send'))),
    el('div', { class: 'wrapup' }, closeBtn),
    el('div', { class: 'transfer' }, t('Transfer to '), target, transferBtn));
  const side = el('aside', { class: 'side' });
  v.panel = el('div', { class: 'contact-panel' }, work, side);
  v.list = list; v.side = side; v.work = work;
  return v.panel;
}

function refresh(v) {
  panelFor(v);
  v.list.replaceChildren(...transcript(v));
  v.list.scrollTop = v.list.scrollHeight;
  markRead(v);
  // The screen-pop changes rarely; redrawing it on every line would only
  // move the agent's scroll position and selection.
  if (v.sideFor !== v.pop) {
    v.side.replaceChildren(screenPop(v.pop || {}, 'customer-name', v.id));
    v.sideFor = v.pop;
  }
}

function forget(v) {
  contacts.delete(v.id);
  dropCall(v.id);
  if (selected === v.id) selected = contacts.keys().next().value || null;
  renderAll();
}

// showWrapUp is the step after closing: the note, Done, the time left of
// the queue's wrap-up (the slot stays held until Done or until it runs
// out; then the server says wrap_up_ended and the card closes), and the
// customer's history.
function showWrapUp(v) {
  const countdown = el('span', { class: 'countdown wrap-countdown', 'data-testid': 'wrap-up-countdown' });
  countdown._tick = () => {
    if (!v.wrapUntil) { countdown.textContent = ''; return; }
    const left = Math.max(0, Math.round((new Date(v.wrapUntil) - Date.now()) / 1000));
    countdown.textContent = t('{n} s left', { n: left });
  };
  countdown._tick();
  v.note = el('textarea', { 'data-testid': 'wrap-up', rows: 2, placeholder: t('Wrap-up note'), maxlength: 2000 });
  v.note.value = draftNote(v); // the call panel's notes
  // The queue's disposition codes, when it has any: one is required, and
  // the server checks it is one of them.
  const codes = (v.contact && v.contact.dispositions) || [];
  v.dispo = codes.length ? el('select', { 'data-testid': 'disposition', class: 'disposition', required: true },
    el('option', { value: '' }, t('Disposition…')), ...codes.map((c) => el('option', { value: c }, c))) : null;
  const done = el('button', { 'data-testid': 'done', class: 'done', onclick: () => {
    if (v.dispo && !v.dispo.value) { toast(t('Choose a disposition.')); v.dispo.focus(); return; }
    if (sock.send(doneFrame(v))) done.disabled = true;
    else toast(t('Not connected; try again.'));
  } }, t('Done'));
  v.doneButton = done; // enabled again if the server refuses the Done
  const box = el('div', { class: 'timeline', 'data-testid': 'timeline' }, el('p', { class: 'muted' }, t('Loading the customer’s history…')));
  // The DOM's replaceChildren writes a null as the text "null": filtered.
  v.work.replaceChildren(...[el('h3', {}, v.call ? t('Call ended — wrap up ') : t('Closed. Wrap-up '), countdown), callSummary(v),
    v.endedByCustomer ? el('p', { class: 'notice', 'data-testid': 'ended-notice' }, t('The visitor ended the chat.')) : null,
    el('div', { class: 'wrapup', 'data-testid': 'wrap-up-step' }, ...[v.dispo, v.note, done].filter(Boolean)),
    el('h4', {}, t('Customer history')), box].filter(Boolean));
  loadTimeline(v, box);
}

// doneFrame is Done with the note and, when chosen, the disposition code.
function doneFrame(v) {
  const f = { type: 'done', id: 'done:' + v.id, contact_id: v.id, wrap_up: v.note.value };
  if (v.dispo && v.dispo.value) f.disposition = v.dispo.value;
  return f;
}

setInterval(() => document.querySelectorAll('.wrap-countdown').forEach((c) => c._tick && c._tick()), 1000);

async function loadTimeline(v, box) {
  if (!v.customerID) { box.replaceChildren(el('p', {}, t('No customer record.'))); return; }
  try {
    const res = await fetch(`/api/customers/${encodeURIComponent(v.customerID)}/timeline`, { credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } });
    if (!res.ok) throw new Error(res.status);
    const items = await res.json();
    box.replaceChildren(...items.map((it) => el('article', { class: 'timeline-item' },
      el('header', {}, el('span', { class: 'chan' }, t(it.channel)), ` ${fmtDate(it.at)} · ${t(it.state)}`, it.subject ? ` · ${it.subject}` : ''),
      it.wrap_up ? el('p', { class: 'wrapup-note' }, t('Wrap-up: '), it.wrap_up) : null,
      el('div', {}, (it.messages || []).map((m) => el('div', { class: `msg msg-${m.author_kind}` },
        el('span', { class: 'meta' }, `${m.author_name || m.author_kind}: `), m.body))))));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, t('Could not load the history.')));
  }
}

function renderAll() {
  renderOffers();
  renderTabs();
  const panel = document.getElementById('panel');
  const v = selected && contacts.get(selected);
  if (!v) {
    panel.replaceChildren(el('p', { class: 'empty' }, t('No contacts in hand. While you are Available, offers appear above.')));
    return;
  }
  if (!v.closed) refresh(v);
  panel.replaceChildren(panelFor(v));
}

// ---- presence ------------------------------------------------------------

const presence = document.getElementById('presence');
const reason = document.getElementById('away-reason');
// wanted is the presence chosen here that the server has not acked yet: a
// change made while the socket (re)connects, or lost with a dropped socket,
// is sent again after the next snapshot instead of being silently lost.
let wanted = null;
function sendPresence() {
  reason.hidden = presence.value !== 'away';
  wanted = { type: 'presence', state: presence.value, reason: presence.value === 'away' ? reason.value : '' };
  const id = sock.send({ ...wanted });
  if (id) wanted.id = id;
}
presence.addEventListener('change', sendPresence);
reason.addEventListener('change', sendPresence);

// ---- frames --------------------------------------------------------------

function onFrame(f) {
  switch (f.type) {
    case 'snapshot':
      queues = f.queues || [];
      colleagues = f.agents || [];
      setPeople(f.agent, colleagues); // the 360 names owners
      offers.clear();
      // Wrap-ups are in the snapshot while they last; other closed cards
      // are this page's own.
      for (const v of contacts.values()) if (!v.closed || v.wrapUntil) contacts.delete(v.id);
      for (const item of f.contacts) {
        const v = hold(item);
        if (item.wrap_up_until) {
          v.closed = true;
          v.wrapUntil = item.wrap_up_until;
          v.customerID = item.contact.customer_id;
          panelFor(v);
          showWrapUp(v);
        }
      }
      presence.value = f.presence.state;
      reason.hidden = f.presence.state !== 'away';
      if (f.presence.reason) reason.value = f.presence.reason;
      if (wanted && wanted.state !== f.presence.state) {
        presence.value = wanted.state; // the agent's latest choice wins
        sendPresence();
      } else wanted = null;
      if (selected && !contacts.has(selected)) selected = contacts.keys().next().value || null;
      renderAll();
      break;
    case 'offer': {
      // A resent offer (after a reconnect) keeps the screen-pop it has.
      const old = offers.get(f.offer_id);
      offers.set(f.offer_id, old && old.screen_pop ? { ...f, contact: old.contact, screen_pop: old.screen_pop } : f);
      renderOffers();
      break;
    }
    case 'screen_pop': {
      if (!f.offer_id) {
        // A held contact's refreshed screen-pop (after choose_customer).
        if (!f.contact || !contacts.has(f.contact_id)) break;
        const v = hold(f);
        if (!v.closed) refresh(v);
        renderTabs();
        break;
      }
      const o = offers.get(f.offer_id);
      if (!o) break; // taken, rescinded or expired meanwhile
      if (f.error) o.pop_error = true;
      else Object.assign(o, { contact: f.contact, screen_pop: f.screen_pop, pop_error: false });
      renderOffers();
      break;
    }
    case 'offer_rescinded':
      if (offers.delete(f.offer_id)) {
        renderOffers();
        if (f.reason === 'timeout') toast(t('The offer timed out and went back to the queue.'));
        else if (f.reason !== 'rejected') toast(t('The offer was withdrawn.'));
      }
      break;
    case 'offers_reset':
      offers.clear();
      renderOffers();
      break;
    case 'assigned': {
      offers.delete(f.offer_id);
      // A thread back from wrap-up or pending is a new piece of work: its
      // old closed card goes.
      const old = contacts.get(f.contact.id);
      if (old && old.closed) contacts.delete(old.id);
      const v = hold(f);
      selected = v.id;
      renderAll();
      break;
    }
    case 'message': {
      const v = contacts.get(f.contact_id);
      if (!v) break;
      v.messages.set(f.message.seq, f.message);
      // The visitor's line ends their typing: no stale "typing…" under it.
      if (f.message.author_kind === 'customer') v.typingUntil = 0;
      if (v.id !== selected) v.unread++;
      if (!v.closed) refresh(v);
      renderTabs();
      break;
    }
    case 'email_queued': case 'email_sent': case 'email_failed':
      emailFrame(f, toast);
      break;
    case 'contact_pending': { // an e-mail thread waits for its customer
      const v = contacts.get(f.contact_id);
      if (!v) break;
      toast(t('Waiting for the customer: the thread comes back to you when they write.'));
      forget(v);
      break;
    }
    case 'contact_closed': {
      const v = contacts.get(f.contact_id);
      if (!v || v.closed) break;
      if (f.transferred_to) {
        contacts.delete(v.id);
        dropCall(v.id);
        if (selected === v.id) selected = contacts.keys().next().value || null;
        const colleague = f.transferred_to_agent && colleagues.find((a) => a.id === f.transferred_to_agent);
        toast(t('Transferred to {name}.', { name: colleague ? colleague.name : f.transferred_to }));
        renderAll();
        break;
      }
      if (f.ended_by === 'customer') {
        // The visitor ended the chat: the wrap-up starts as after a close.
        toast(t('The visitor ended the chat.'));
        v.endedByCustomer = true;
        if (!f.customer_id) f.customer_id = v.contact.customer_id;
      }
      if (f.ended_by === 'call') {
        // The phone leg ended it; the frame carries the call as it ended
        // (no call frame follows: the contact is no longer followed).
        if (f.call) setCall(v, f.call);
        else if (v.call && v.call.state !== 'ended') setCall(v, { ...v.call, state: 'ended', ended_at: new Date().toISOString() });
      }
      v.closed = true;
      v.customerID = f.customer_id;
      v.wrapUntil = f.wrap_up_until || null;
      panelFor(v);
      showWrapUp(v);
      renderTabs();
      break;
    }
    case 'wrap_up_ended': {
      const v = contacts.get(f.contact_id);
      if (!v) break;
      if (f.reason === 'timeout') {
        // The note typed so far is kept: Done after the end only saves it.
        if (v.note && (v.note.value.trim() || (v.dispo && v.dispo.value))) sock.send(doneFrame(v));
        toast(t('Wrap-up time is over; the contact is closed.'));
      } else if (f.reason === 'reopened') {
        toast(t('The customer wrote again: the thread comes back to you.'));
      }
      forget(v);
      break;
    }
    case 'presence': // set by the server (a supervisor, or no answer): it decides
      wanted = null;
      presence.value = f.state;
      reason.hidden = f.state !== 'away';
      if (f.reason === 'no answer') toast(t('You were set Away after several unanswered offers. Set yourself Available when you are back.'));
      break;
    case 'typing': {
      const v = contacts.get(f.contact_id);
      if (!v || v.closed) break;
      v.typingUntil = Date.now() + 4000;
      refresh(v);
      break;
    }
    case 'read': {
      const v = contacts.get(f.contact_id);
      if (!v) break;
      if (f.side === 'customer') v.customerRead = Math.max(v.customerRead || 0, f.seq);
      else v.agentRead = Math.max(v.agentRead || 0, f.seq);
      if (!v.closed) refresh(v);
      break;
    }
    case 'ack':
      if (wanted && f.ref === wanted.id) wanted = null;
      callReply(f, toast);
      break;
    case 'call': { // the call panel's state (call.js)
      const v = contacts.get(f.contact_id);
      if (!v) break;
      setCall(v, f.call);
      // A panel built before the call was known is rebuilt with it; one
      // not built yet will have it.
      if (!v.closed && v.panel && !callFrame(v)) { v.panel = null; if (v.id === selected) renderAll(); }
      break;
    }
    case 'call_ringing': // observe mode: the PBX rings the agent's phone
      callRinging(f, renderOffers);
      break;
    case 'contact_withdrawn': { // the call left this agent (call.js says why)
      const rang = dropRinging(f.contact_id);
      const v = contacts.get(f.contact_id);
      if (v) forget(v); else if (rang) renderOffers();
      if (v || rang) toast(withdrawnText(f.reason));
      break;
    }
    case 'error':
      if (callReply(f, toast)) break;
      if (f.offer_id && offers.delete(f.offer_id)) renderOffers();
      if (typeof f.ref === 'string' && f.ref.startsWith('choose:')) {
        const v = contacts.get(f.ref.slice('choose:'.length));
        if (v && !v.closed) { v.sideFor = null; refresh(v); } // buttons enabled again
      }
      if (typeof f.ref === 'string' && f.ref.startsWith('done:')) {
        const v = contacts.get(f.ref.slice('done:'.length));
        if (v && v.doneButton) v.doneButton.disabled = false; // e.g. a code the queue no longer has
      }
      toast(f.message || f.code);
      break;
  }
}

// A user without an agent profile gets search and records, no socket.
if (document.body.dataset.notAgent === 'true') {
  document.querySelector('[data-testid=conn]').textContent = t('not an agent');
  presence.disabled = true;
} else sock = connect('/ws/agent', {
  onFrame,
  onState(up) {
    document.querySelector('[data-testid=conn]').textContent = up ? t('connected') : t('reconnecting…');
    document.body.classList.toggle('offline', !up);
  },
  onClose(ev) {
    if (ev.code === 4401) { location.href = '/login?next=/console'; return false; }
  },
});
