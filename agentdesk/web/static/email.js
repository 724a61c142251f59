// The e-mail panel of the agent console: for a held e-mail contact, the
// thread (each message with from, to, date; the sanitised HTML with its
// inline images in a sandboxed iframe that runs nothing, or the text with its quoted history
// folded behind "show quoted"; attachments as links), and a reply composer
// with canned responses (filled for this contact by the server), uploads
// and the sending state of each reply (queued → sent, or failed with
// Retry). Frames email_queued, email_sent and email_failed update it.
// The composer formats (bold, italic, links, lists: the server keeps only
// those and sends them as text/html beside a text part); "Send and set
// pending" and "Set pending" leave the thread waiting for the customer
// (contact_pending closes the card).
import { el, fmtDate } from './socket.js';
import { t } from './i18n.js';

// panels maps a contact id to the function that redraws its thread.
const panels = new Map();

// emailPanel returns the panel for contact view v, or null when v is not
// an e-mail contact. csrf is the page's token; onError shows a message.
export function emailPanel(v, csrf, onError) {
  if (!v.contact || v.contact.channel !== 'email') return null;
  const id = v.id;
  const thread = el('div', { class: 'email-thread', 'data-testid': 'email-thread', role: 'log' });
  // A contenteditable editor: execCommand writes <b>, <i>, <a>, <ul>, <ol>
  // and the server's sanitiser keeps nothing else.
  const text = el('div', { class: 'email-editor', contenteditable: 'true', role: 'textbox', 'aria-multiline': 'true',
    'data-testid': 'email-text', 'aria-label': t('Reply') });
  const fmt = (cmd, label, testid, arg) => {
    const b = el('button', { type: 'button', class: 'fmt', title: t(label), 'aria-label': t(label), 'data-testid': testid }, t(label));
    b.addEventListener('mousedown', (e) => e.preventDefault()); // keep the selection
    b.addEventListener('click', () => {
      text.focus();
      if (cmd === 'createLink') {
        const url = (window.prompt(t('Link address (https://…)')) || '').trim();
        if (!/^(https?:\/\/|mailto:)/i.test(url)) return;
        document.execCommand('createLink', false, url);
      } else document.execCommand(cmd, false, arg);
    });
    return b;
  };
  const toolbar = el('div', { class: 'email-toolbar', role: 'toolbar', 'aria-label': t('Formatting') },
    fmt('bold', 'B', 'email-bold'), fmt('italic', 'I', 'email-italic'), fmt('createLink', 'Link', 'email-link'),
    fmt('insertUnorderedList', '• List', 'email-ul'), fmt('insertOrderedList', '1. List', 'email-ol'));
  const cc = el('input', { type: 'text', placeholder: t('Cc (optional)'), 'data-testid': 'email-cc', 'aria-label': t('Cc') });
  const canned = el('select', { 'data-testid': 'email-canned', 'aria-label': t('Canned response') },
    el('option', { value: '' }, t('Canned response…')));
  const files = el('input', { type: 'file', multiple: true, 'data-testid': 'email-files', 'aria-label': t('Attachments') });
  const fileList = el('ul', { class: 'email-files' });
  const status = el('span', { class: 'muted', role: 'status', 'data-testid': 'email-status' });
  const sendBtn = el('button', { class: 'send', 'data-testid': 'email-send' }, t('Send reply'));
  const sendPendingBtn = el('button', { 'data-testid': 'email-send-pending', title: t('Send, then wait for the customer') }, t('Send and set pending'));
  const pendingBtn = el('button', { 'data-testid': 'email-set-pending', title: t('Wait for the customer without replying') }, t('Set pending'));
  let uploads = []; // { id, name }
  let clientID = newID();

  const api = (path, opts = {}) => fetch(`/api/contacts/${encodeURIComponent(id)}${path}`, {
    credentials: 'same-origin', ...opts,
    headers: { 'X-CSRF-Token': csrf, ...(opts.headers || {}) },
  });

  async function load() {
    try {
      const res = await api('/email');
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || res.statusText);
      const body = await res.json();
      thread.replaceChildren(...body.emails.map((m) => renderEmail(id, m, api, onError, load)));
    } catch (err) {
      onError(t('Loading the e-mail thread failed: {error}', { error: err.message }));
    }
  }

  async function loadCanned() {
    const res = await fetch(`/api/canned-responses?contact=${encodeURIComponent(id)}`, { credentials: 'same-origin' });
    if (!res.ok) return;
    for (const c of await res.json()) {
      canned.append(el('option', { value: c.rendered ?? c.body }, c.title));
    }
  }
  canned.addEventListener('change', () => {
    if (!canned.value) return;
    // Unknown placeholders stay visible ({{…}}) for the agent to fill.
    // Lines as text and <br>: innerText then gives back exactly the
    // response's lines (block elements would add blank lines of their own).
    if (text.textContent.trim()) text.append(el('br'), el('br'));
    canned.value.split('\n').forEach((line, i) => {
      if (i > 0) text.append(el('br'));
      if (line) text.append(document.createTextNode(line));
    });
    canned.value = '';
    text.focus();
  });

  files.addEventListener('change', async () => {
    for (const f of files.files) {
      status.textContent = t('Uploading {name}…', { name: f.name });
      const res = await api(`/email/uploads?name=${encodeURIComponent(f.name)}`, {
        method: 'POST', body: f, headers: { 'Content-Type': f.type || 'application/octet-stream' },
      });
      if (!res.ok) {
        onError(`${f.name}: ` + ((await res.json().catch(() => ({}))).message || res.statusText));
        continue;
      }
      const info = await res.json();
      uploads.push(info);
      fileList.append(el('li', {}, info.name));
    }
    files.value = '';
    status.textContent = '';
  });

  async function send(pending) {
    const plain = text.innerText.trim();
    if (!plain) return;
    // Formatting goes as HTML; plain typing as text alone.
    const formatted = text.querySelector('b, strong, i, em, u, a, ul, ol, blockquote') !== null;
    sendBtn.disabled = sendPendingBtn.disabled = true;
    status.textContent = t('Queuing…');
    try {
      const res = await api('/email/reply', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          client_id: clientID, text: text.innerText, html: formatted ? text.innerHTML : '', pending,
          cc: cc.value.split(',').map((s) => s.trim()).filter(Boolean),
          attachment_ids: uploads.map((u) => u.id),
        }),
      });
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || res.statusText);
      text.replaceChildren(); cc.value = ''; uploads = []; fileList.replaceChildren();
      clientID = newID(); // the next reply is a new one; a resend of this one is not
      status.textContent = t(pending ? 'Queued; waiting for the customer' : 'Queued');
      load();
    } catch (err) {
      status.textContent = '';
      onError(t('The reply was not queued: {error}', { error: err.message }));
    } finally {
      sendBtn.disabled = sendPendingBtn.disabled = false;
    }
  }
  sendBtn.addEventListener('click', () => send(false));
  sendPendingBtn.addEventListener('click', () => send(true));
  pendingBtn.addEventListener('click', async () => {
    pendingBtn.disabled = true;
    try {
      const res = await api('/email/pending', { method: 'POST' });
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || res.statusText);
      status.textContent = t('Waiting for the customer');
    } catch (err) {
      onError(t('The thread was not set pending: {error}', { error: err.message }));
    } finally {
      pendingBtn.disabled = false;
    }
  });

  panels.set(id, load);
  load();
  loadCanned();
  // The chat composer does not send e-mail: this panel's composer does.
  // (style, not the hidden attribute: the stylesheet's display: flex on
  // .composer wins over [hidden].)
  queueMicrotask(() => {
    const c = v.work?.querySelector('.composer');
    if (c) { c.hidden = true; c.style.display = 'none'; }
  });
  return el('section', { class: 'email', 'data-testid': 'email' },
    el('h4', {}, t('E-mail')), thread,
    el('div', { class: 'email-composer' }, canned, toolbar, text, cc, files, fileList,
      el('div', { class: 'email-actions' }, sendBtn, sendPendingBtn, pendingBtn), status));
}

// emailFrame handles the console frames about sending: the thread of the
// contact redraws with the reply's new state.
export function emailFrame(f, onError) {
  const load = panels.get(f.contact_id);
  if (load) load();
  if (f.type === 'email_failed') {
    onError(t(f.retrying ? 'A reply could not be sent yet ({reason}); retrying.' : 'A reply could not be sent ({reason}).', { reason: f.reason }));
  }
}

function renderEmail(contactID, m, api, onError, reload) {
  const head = el('div', { class: 'email-head' },
    el('strong', {}, m.from_name ? `${m.from_name} <${m.from}>` : m.from),
    el('span', { class: 'muted' }, t(' to '), (m.to || []).join(', '),
      m.cc && m.cc.length ? ' · cc ' + m.cc.join(', ') : '', ' · ', fmtDate(m.at)),
    el('div', {}, m.subject));
  let body;
  if (m.html) {
    // The sandbox gives the frame no scripts, no forms, no popups, no
    // navigation of the console: sanitised HTML is shown, never run. It
    // keeps the console's origin (allow-same-origin, harmless without
    // allow-scripts) only so that the inline images, which the server
    // points at the contact's attachment route, load with the agent's
    // session: a frame of no origin sends no SameSite cookie. The
    // console's CSP, which the frame inherits, allows images from this
    // server alone.
    body = el('iframe', { sandbox: 'allow-same-origin', srcdoc: m.html, class: 'email-html', title: t('Message'), 'data-testid': 'email-html' });
  } else {
    const pre = el('pre', { class: 'email-text' }, m.folded);
    body = el('div', {}, pre);
    if (m.text && m.text !== m.folded) {
      let open = false;
      const toggle = el('button', { class: 'link', 'data-testid': 'email-show-quoted' }, t('Show quoted'));
      toggle.addEventListener('click', () => {
        open = !open;
        pre.textContent = open ? m.text : m.folded;
        toggle.textContent = t(open ? 'Hide quoted' : 'Show quoted');
      });
      body.append(toggle);
    }
  }
  const atts = (m.attachments || []).map((a) => a.rejected
    ? el('li', { class: 'muted' }, t('{name} (not kept: {reason})', { name: a.name, reason: a.rejected }))
    : el('li', {}, el('a', {
      href: `/api/contacts/${encodeURIComponent(contactID)}/email/attachments/${encodeURIComponent(a.id)}`,
      target: '_blank', rel: 'noopener',
    }, a.name), ` (${Math.ceil(a.size / 1024)} KB)`));
  let state = null;
  if (m.outbox) {
    const o = m.outbox;
    state = el('div', { class: 'email-state state-' + o.state, 'data-testid': 'email-state', 'data-state': o.state },
      o.state === 'failed' ? t('Not sent ({error})', { error: o.last_error }) : o.state === 'sent' ? t('Sent')
        : o.last_error ? t('Queued, retrying ({error})', { error: o.last_error }) : t('Queued'));
    if (o.state === 'failed') {
      const retry = el('button', { 'data-testid': 'email-retry' }, t('Retry'));
      retry.addEventListener('click', async () => {
        retry.disabled = true;
        const res = await api(`/email/outbox/${encodeURIComponent(o.id)}/retry`, { method: 'POST' });
        if (!res.ok) onError(t('Retry refused: {error}', { error: (await res.json().catch(() => ({}))).message || res.statusText }));
        reload();
      });
      state.append(' ', retry);
    }
  }
  return el('article', { class: 'email-msg email-' + m.direction, 'data-testid': 'email-msg' },
    head, body, atts.length ? el('ul', { class: 'email-atts' }, atts) : null, state);
}

function newID() {
  return (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random().toString(16).slice(2);
}
