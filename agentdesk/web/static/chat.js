/* Switchboard chat widget. One line on a dealer's page adds it:
 *   <script src="https://switchboard.example/chat.js" data-site="KEY" async></script>
 * Optional: data-customer-token="…" (a signed customer token, see
 * docs/protocol.md). Plain JS, no third-party code.
 *
 * Delivery: a line is kept (localStorage, per site) until the server acks it
 * after commit and is resent with the same client_id after a reconnect, so
 * it is stored once. A socket resumes from the last seq it saw; a reload
 * resumes from the tab's cached transcript (sessionStorage), a new tab
 * replays the whole chat. Visitor and agent text is only ever set as text;
 * links become anchors to http(s) only. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src, location.href).origin;
  var site = script.getAttribute('data-site') || '';
  var customerToken = script.getAttribute('data-customer-token') || '';
  var key = 'sb-chat:' + site + ':';

  var L = {
    en: {
      open: 'Chat with us', title: 'Chat with us', close: 'Close chat', name: 'Your name', email: 'E-mail', phone: 'Phone',
      topic: 'Topic', enquiries: 'General enquiry', sales: 'Buying a car', service: 'Service and repairs', start: 'Start chat',
      send: 'Send', message: 'Your message', optional: '(optional)', waiting: 'Waiting for an agent…', chatting: 'Chatting with {n}',
      ended: 'The chat has ended.', reconnecting: 'Reconnecting…', offlineNet: 'You are offline. Your messages will be sent when you are back.',
      again: 'Start a new chat', typing: '{n} is typing…', end: 'End chat', attach: 'Send a file', uploading: 'Uploading {f}… {p}%',
      place: 'You are number {p} in the queue', wait: ' (about {m} min)', read: 'Read', sent: 'Delivered', sending: 'Sending…',
      agent: 'Agent', you: 'You', offline: 'We are not online right now. Leave a message and we will get back to you.',
      opens: 'We are back {t}.', leave: 'Send message', thanks: 'Thank you. We have your message and will reply by e-mail.',
      thanksCall: 'Thank you. We will call you back{t}.', at: ' from {t}', tooBig: 'The file is too large.', failed: 'Could not send the file.',
      mail: 'E-mail me the transcript', mailed: 'The transcript will be sent to {e}.'
    },
    zh: {
      open: '在线咨询', title: '在线客服', close: '关闭对话窗口', name: '您的姓名', email: '电子邮箱', phone: '手机号码',
      topic: '咨询类型', enquiries: '一般咨询', sales: '购车咨询', service: '维修保养', start: '开始咨询',
      send: '发送', message: '留言内容', optional: '（选填）', waiting: '正在为您接通客服…', chatting: '正在与 {n} 对话',
      ended: '对话已结束。', reconnecting: '正在重新连接…', offlineNet: '网络已断开，恢复后消息将自动发送。',
      again: '开始新的对话', typing: '{n} 正在输入…', end: '结束对话', attach: '发送文件', uploading: '正在上传 {f}… {p}%',
      place: '您前面还有 {p} 位', wait: '（约 {m} 分钟）', read: '已读', sent: '已送达', sending: '发送中…',
      agent: '客服', you: '我', offline: '客服当前不在线，请留言，我们会尽快回复您。',
      opens: '我们将于 {t} 恢复服务。', leave: '提交留言', thanks: '谢谢，我们已收到您的留言，将通过电子邮件回复您。',
      thanksCall: '谢谢，我们将{t}给您回电。', at: '于 {t} ', tooBig: '文件太大。', failed: '文件发送失败。',
      mail: '通过邮件发送聊天记录', mailed: '聊天记录将发送至 {e}。'
    }
  };
  var lang = /^zh/i.test(navigator.language || '') ? 'zh' : 'en', T = L[lang];
  function fmt(s, v) { return s.replace(/\{(\w)\}/g, function (_, k) { return v[k]; }); }

  function get(k, s) { try { return JSON.parse((s || localStorage).getItem(key + k)); } catch (e) { return null; } }
  function put(k, v, s) { try { (s || localStorage).setItem(key + k, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  function h(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) if (attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function add(p) { for (var i = 1; i < arguments.length; i++) p.appendChild(arguments[i]); return p; }

  document.head.appendChild(h('link', { rel: 'stylesheet', href: origin + '/static/chat.css' }));

  // ---- the frame: launcher and panel ----
  var launcher = h('button', { id: 'sb-chat-launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'sb-chat-panel' });
  var panel = h('div', { id: 'sb-chat-panel', role: 'dialog', 'aria-labelledby': 'sb-title', hidden: '' });
  var titleEl = h('h2', { id: 'sb-title' });
  var closeBtn = h('button', { type: 'button', class: 'sb-close' }, '×');
  var status = h('div', { id: 'sb-status', role: 'status' });
  var form = h('form', { id: 'sb-form', novalidate: '' });
  var formError = h('div', { id: 'sb-form-error', class: 'sb-error', role: 'alert' });
  var conv = h('div', { id: 'sb-conv', hidden: '' });
  var waitEl = h('div', { id: 'sb-wait', role: 'status' });
  var list = h('div', { id: 'sb-transcript', role: 'log', 'aria-live': 'polite', tabindex: '0' });
  var typingEl = h('div', { id: 'sb-typing', 'aria-live': 'polite' });
  var progress = h('div', { id: 'sb-progress', role: 'status' });
  var inputLabel = h('label', { for: 'sb-input', class: 'sb-sr' });
  var input = h('textarea', { id: 'sb-input', rows: '2', maxlength: '4000' });
  var sendBtn = h('button', { id: 'sb-send', type: 'button' });
  var fileIn = h('input', { id: 'sb-file', type: 'file', hidden: '', tabindex: '-1', accept: 'image/png,image/jpeg,image/gif,image/webp,application/pdf' });
  var attachBtn = h('button', { id: 'sb-attach', type: 'button', class: 'sb-icon' }, '📎');
  var endBtn = h('button', { id: 'sb-end', type: 'button', class: 'sb-link' });
  var againBtn = h('button', { id: 'sb-again', type: 'button', hidden: '' });
  var mailBtn = h('button', { id: 'sb-mail', type: 'button', class: 'sb-link' });
  var mailBox = h('div', { id: 'sb-mailbox', hidden: '' }), mailLabel = h('label', { for: 'sb-mail-to', class: 'sb-sr' });
  var mailIn = h('input', { id: 'sb-mail-to', type: 'email', maxlength: '254', autocomplete: 'email' });
  var mailGo = h('button', { id: 'sb-mail-send', type: 'button' }), mailNote = h('div', { id: 'sb-mail-note', role: 'status' });
  var head = add(h('div', { class: 'sb-head' }), titleEl, closeBtn);
  add(conv, waitEl, list, typingEl, progress,
    add(h('div', { class: 'sb-composer' }), inputLabel, input, attachBtn, fileIn, sendBtn),
    add(h('div', { class: 'sb-foot' }), endBtn, mailBtn, againBtn), add(mailBox, mailLabel, mailIn, mailGo), mailNote);
  add(panel, head, status, form, conv);

  function texts() {
    launcher.textContent = T.open; titleEl.textContent = T.title; closeBtn.setAttribute('aria-label', T.close);
    inputLabel.textContent = T.message; input.placeholder = T.message; sendBtn.textContent = T.send;
    attachBtn.setAttribute('aria-label', T.attach); attachBtn.title = T.attach; endBtn.textContent = T.end; againBtn.textContent = T.again;
    mailBtn.textContent = T.mail; mailLabel.textContent = mailIn.placeholder = T.email; mailGo.textContent = T.send;
    panel.setAttribute('lang', lang === 'zh' ? 'zh-CN' : 'en');
  }
  texts();
  function mount() { add(document.body, launcher, panel); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  // ---- state ----
  var settings = null;               // the site's widget settings (GET /chat/settings, then the welcome's)
  var token = get('token') || '';
  var outbox = get('outbox') || [];   // [{client_id, body, attachment}] not yet acked: survives a reload
  var lines = {};                     // seq → line, this tab's transcript
  var lastSeq = 0;
  var cached = get('lines', sessionStorage);
  
  var ws = null, fresh = false, delay = 500, timer = null, state = 'new', agentName = '', started = !!get('started'), contact = get('contact') || '';
  var agentRead = 0, typingTimer = null, lastTyping = 0, ackTimer = null, offlineNote = null, offlineMsg = null, noMail = false;

  if (cached && cached.contact && cached.contact === contact) cached.lines.forEach(function (m) {
    lines[m.seq] = m; lastSeq = Math.max(lastSeq, m.seq);
    if (m.author_kind === 'agent' && m.author_name) agentName = m.author_name;
  });

  function persist() {
    put('outbox', outbox);
    var keep = Object.keys(lines).map(Number).sort(function (a, b) { return a - b; }).slice(-500);
    put('lines', { contact: contact, lines: keep.map(function (s) { return lines[s]; }) }, sessionStorage);
  }

  function setStatus(text) { status.textContent = text; }
  function showState() {
    var up = ws && ws.readyState === 1;
    if (!navigator.onLine) setStatus(T.offlineNet);
    else if (!up && started) setStatus(T.reconnecting);
    else if (state === 'active') setStatus(fmt(T.chatting, { n: agentName || T.agent }));
    else if (state === 'closed' || state === 'abandoned') setStatus(T.ended);
    else if (state === 'queued' || outbox.length) setStatus(T.waiting);
    else setStatus('');
    var ended = state === 'closed' || state === 'abandoned';
    input.disabled = ended; sendBtn.disabled = ended; againBtn.hidden = !ended; endBtn.hidden = ended || state === 'new';
    mailBtn.hidden = noMail || state === 'new';
    attachBtn.hidden = !(settings && settings.attachments);
    attachBtn.disabled = ended || state === 'new';
    if (state !== 'queued') waitEl.textContent = '';
  }

  // ---- the transcript: one element per line, placed in seq order ----
  function lineEl(m) {
    var mine = m.author_kind === 'customer';
    var d = h('div', { class: 'sb-msg sb-msg-' + m.author_kind, 'data-seq': String(m.seq) });
    d.appendChild(h('div', { class: 'sb-who' }, mine ? T.you : m.author_kind === 'agent' ? (m.author_name || T.agent) : ''));
    d.appendChild(m.attachment ? attachmentEl(m.attachment) : bodyEl(m.body));
    if (mine) d.appendChild(h('span', { class: 'sb-receipt' }));
    return d;
  }
  function place(m) {
    if (list.querySelector('[data-seq="' + m.seq + '"]')) return;
    var d = lineEl(m), before = null, items = list.querySelectorAll('[data-seq]');
    for (var i = 0; i < items.length && !before; i++) if (Number(items[i].getAttribute('data-seq')) > m.seq) before = items[i];
    list.insertBefore(d, before || list.querySelector('.sb-pending'));
    if (m.client_id) { var p = list.querySelector('.sb-pending[data-cid="' + m.client_id + '"]'); if (p) p.remove(); }
    receipt(d);
  }
  function pendingEl(o) {
    if (list.querySelector('.sb-pending[data-cid="' + o.client_id + '"]')) return;
    var d = h('div', { class: 'sb-msg sb-msg-customer sb-pending', 'data-cid': o.client_id });
    add(d, h('div', { class: 'sb-who' }, T.you), h('div', { class: 'sb-body' }, o.attachment ? o.attachment.name : o.body), h('span', { class: 'sb-receipt' }, T.sending));
    list.appendChild(d);
  }
  function redraw() {
    list.textContent = '';
    Object.keys(lines).forEach(function (s) { place(lines[s]); });
    outbox.forEach(pendingEl);
    scroll();
  }
  function scroll() { list.scrollTop = list.scrollHeight; }
  function addLine(m) {
    lines[m.seq] = m;
    if (m.seq > lastSeq) lastSeq = m.seq;
    place(m); scroll();
  }
  // Receipts change in place: a redraw would move the visitor's selection.
  function receipt(d) {
    var r = d.querySelector('.sb-receipt');
    if (!r) return;
    var read = Number(d.getAttribute('data-seq')) <= agentRead;
    r.textContent = read ? '✓✓' : '✓'; r.setAttribute('aria-label', read ? T.read : T.sent); r.title = read ? T.read : T.sent;
  }

  // Text is only ever text; http(s) links become anchors, nothing else.
  function bodyEl(text) {
    var d = h('div', { class: 'sb-body' });
    String(text).split(/(https?:\/\/[^\s<>"']+)/).forEach(function (part, i) {
      if (i % 2 === 1) d.appendChild(h('a', { href: part, target: '_blank', rel: 'noopener noreferrer' }, part));
      else if (part) d.appendChild(document.createTextNode(part));
    });
    return d;
  }
  function attachmentURL(a) {
    return origin + '/chat/attachments/' + encodeURIComponent(a.id) + '?site=' + encodeURIComponent(site) + '&token=' + encodeURIComponent(token);
  }
  function attachmentEl(a) {
    var link = h('a', { class: 'sb-body sb-file', href: attachmentURL(a), target: '_blank', rel: 'noopener noreferrer', download: a.name }, '📄 ' + a.name);
    if (String(a.content_type).indexOf('image/') === 0) {
      link.textContent = '';
      link.appendChild(h('img', { class: 'sb-thumb', src: attachmentURL(a), alt: a.name }));
    }
    return link;
  }

  // ---- the forms ----
  var fields = {};
  function field(name, type, label, mode, extra) {
    var id = 'sb-' + name, wrap = h('div', { class: 'sb-field' });
    var lab = h('label', { for: id }, label + (mode === 'required' ? ' *' : ' ' + T.optional));
    var inp = type === 'textarea' ? h('textarea', { id: id, rows: '3', maxlength: '4000' }) : h('input', { id: id, type: type, maxlength: type === 'email' ? '254' : '100' });
    for (var k in extra || {}) inp.setAttribute(k, extra[k]);
    if (mode === 'required') { inp.required = true; inp.setAttribute('aria-required', 'true'); }
    var err = h('div', { id: id + '-err', class: 'sb-error' });
    inp.setAttribute('aria-describedby', id + '-err');
    inp.value = (get('form') || {})[name] || '';
    add(wrap, lab, inp, err);
    fields[name] = { input: inp, err: err };
    form.appendChild(wrap);
  }
  // buildForm draws the pre-chat form, or the offline form, from the settings.
  function buildForm() {
    form.textContent = ''; fields = {}; offlineNote = null;
    var s = settings || { fields: { name: 'optional', email: 'optional', phone: 'off' }, topics: [] };
    var f = s.fields || {}, off = !!s.offline, cb = s.offline_mode === 'callback';
    var req = function (n) {
      if (off && ((n === 'email' && !cb) || (n === 'phone' && cb))) return 'required';
      return customerToken && f[n] === 'required' ? 'optional' : f[n];
    };
    if (off) {
      form.appendChild(h('p', { class: 'sb-note' }, T.offline));
      if (s.next_open) form.appendChild(h('p', { class: 'sb-note' }, fmt(T.opens, { t: when(s.next_open) })));
    }
    if (req('name') !== 'off') field('name', 'text', T.name, req('name'), { autocomplete: 'name' });
    if (req('email') !== 'off') field('email', 'email', T.email, req('email'), { autocomplete: 'email' });
    if (req('phone') !== 'off') field('phone', 'tel', T.phone, req('phone'), { autocomplete: 'tel' });
    if (!off && s.topics && s.topics.length) {
      var wrap = h('div', { class: 'sb-field' }), sel = h('select', { id: 'sb-topic', required: '' });
      s.topics.forEach(function (t) { sel.appendChild(h('option', { value: t }, T[t] || t)); });
      add(wrap, h('label', { for: 'sb-topic' }, T.topic), sel);
      fields.topic = { input: sel, err: h('div') };
      form.appendChild(wrap);
    }
    if (off) field('body', 'textarea', T.message, 'required');
    form.appendChild(formError);
    form.appendChild(h('button', { id: 'sb-start', type: 'submit' }, off ? T.leave : T.start));
  }
  function when(iso) {
    var d = new Date(iso);
    return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en', { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }
  function values() {
    var v = {};
    for (var n in fields) v[n] = fields[n].input.value.trim();
    return v;
  }
  function markField(name, msg) {
    for (var n in fields) { fields[n].err.textContent = ''; fields[n].input.removeAttribute('aria-invalid'); }
    formError.textContent = '';
    var f = fields[name];
    if (f) { f.err.textContent = msg; f.input.setAttribute('aria-invalid', 'true'); f.input.focus(); } else formError.textContent = msg;
  }
  function checkForm() {
    for (var n in fields) {
      var i = fields[n].input;
      if (i.required && !i.value.trim()) { markField(n, '*'); return false; }
      if (i.type === 'email' && i.value && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(i.value.trim())) { markField(n, T.email + '?'); return false; }
    }
    return true;
  }

  // ---- the socket ----
  function send(f) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(f)); return true; } return false; }

  function connect() {
    clearTimeout(timer);
    if (ws || !navigator.onLine) { showState(); return; }
    var sock = ws = new WebSocket(origin.replace(/^http/, 'ws') + '/chat/ws?site=' + encodeURIComponent(site));
    sock.onopen = function () {
      delay = 500; fresh = true;
      var form = get('form') || {};
      var hello = { type: 'hello', token: token, name: form.name || '', email: form.email || '', phone: form.phone || '',
        topic: form.topic || '', last_seq: lastSeq };
      if (customerToken) hello.customer_token = customerToken;
      send(hello);
      showState();
    };
    sock.onmessage = function (ev) { var f; try { f = JSON.parse(ev.data); } catch (e) { return; } onFrame(f); showState(); };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null; clearTimeout(ackTimer);
      showState();
      if (!navigator.onLine) return; // 'online' reconnects
      var wait = delay / 2 + Math.random() * delay / 2;
      delay = Math.min(delay * 2, 10000);
      timer = setTimeout(connect, wait);
    };
  }
  function drop() { var s = ws; ws = null; if (s) { s.onclose = null; s.close(); } }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome':
        if (token && token !== f.token && !f.contact_id) { lines = {}; lastSeq = 0; redraw(); }
        token = f.token; put('token', token);
        if (f.settings) { f.settings.offline = f.offline; f.settings.next_open = f.next_open; useSettings(f.settings); }
        if (f.state) state = f.state;
        if (f.agent_read_seq > agentRead) agentRead = f.agent_read_seq;
        if (f.offline && !f.contact_id) {
          if (offlineMsg) send(offlineMsg);
          else if (started) { started = false; put('started', false); showForm(); }
          return;
        }
        if (!started) { started = true; put('started', true); showConversation(); }
        if (f.contact_id && f.contact_id !== contact) { contact = f.contact_id; put('contact', contact); }
        // After a (re)connect, resend what the server never acked, with the
        // same client ids: it stores each once.
        if (fresh) outbox.forEach(function (o) { send(lineFrame(o)); });
        fresh = false;
        watchAcks();
        persist();
        break;
      case 'ack':
        if (f.offline) { offlineDone(f); break; }
        outbox = outbox.filter(function (o) {
          if (o.client_id !== f.client_id) return true;
          addLine({ seq: f.seq, author_kind: 'customer', body: o.body, client_id: o.client_id, attachment: o.attachment });
          return false;
        });
        persist(); watchAcks();
        break;
      case 'message':
        addLine(f);
        if (f.author_kind === 'agent' && f.author_name) agentName = f.author_name;
        outbox = outbox.filter(function (o) { return o.client_id !== f.client_id || f.author_kind !== 'customer'; });
        if (f.author_kind === 'agent') { showTyping(''); markRead(); }
        persist();
        break;
      case 'typing': showTyping(f.name || agentName || T.agent); break;
      case 'transcript': mailBox.hidden = true; mailNote.textContent = fmt(T.mailed, { e: f.to }); break;
      case 'read':
        if (f.seq > agentRead) { agentRead = f.seq; list.querySelectorAll('.sb-msg-customer[data-seq]').forEach(receipt); }
        break;
      case 'wait':
        waitEl.textContent = fmt(T.place, { p: f.position }) + (f.wait_seconds ? fmt(T.wait, { m: Math.max(1, Math.round(f.wait_seconds / 60)) }) : '');
        break;
      case 'state':
        state = f.state;
        if (f.agent_name) agentName = f.agent_name;
        if (state === 'active') markRead();
        if (state === 'closed' || state === 'abandoned') { outbox = []; persist(); redraw(); }
        break;
      case 'error':
        if (f.field === 'transcript_email') { mailBox.hidden = false; mailNote.textContent = f.code === 'email_required' ? '' : f.message; mailIn.focus(); }
        else if (f.code === 'unavailable') { noMail = true; mailBox.hidden = true; mailNote.textContent = f.message; }
        else if (f.field || f.code === 'bad_customer_token') {
          if (!started || offlineMsg) { offlineMsg = null; showForm(); markField(f.field, f.message); }
          else setStatus(f.message);
        } else if (f.code === 'closed') { state = 'closed'; outbox = []; persist(); redraw(); }
        else if (f.code === 'offline') { started = false; put('started', false); outbox = []; persist(); refreshSettings(); }
        else if (f.message) setStatus(f.message);
    }
  }

  // A line unacked for long means a dead socket that has not noticed yet.
  function watchAcks() {
    clearTimeout(ackTimer);
    if (outbox.length && ws) ackTimer = setTimeout(function () { if (outbox.length && ws) { drop(); connect(); } }, 15000);
  }

  function useSettings(s) {
    var had = settings && JSON.stringify(settings);
    settings = s;
    if (s.language === 'en' || s.language === 'zh-CN') lang = s.language === 'en' ? 'en' : 'zh';
    T = L[lang]; texts();
    if (s.attachment_types) fileIn.accept = s.attachment_types.join(',');
    if (!started && had !== JSON.stringify(s)) buildForm();
  }
  function refreshSettings(then) {
    var x = new XMLHttpRequest();
    x.open('GET', origin + '/chat/settings?site=' + encodeURIComponent(site));
    x.onload = function () { try { useSettings(JSON.parse(x.responseText)); } catch (e) { /* keep the defaults */ } if (!started) showForm(); if (then) then(); };
    x.onerror = function () { if (!started) showForm(); };
    x.send();
  }

  function showForm() { form.hidden = false; conv.hidden = true; if (!settings) buildForm(); showState(); }
  function showConversation() { form.hidden = true; conv.hidden = false; redraw(); showState(); if (!panel.hidden) input.focus(); }

  function offlineDone(f) {
    offlineMsg = null;
    put('form', {});
    form.textContent = '';
    var t = f.offline === 'callback' ? fmt(T.thanksCall, { t: f.due_at ? fmt(T.at, { t: when(f.due_at) }) : '' }) : T.thanks;
    var p = h('p', { class: 'sb-note', id: 'sb-thanks', tabindex: '-1' }, t);
    form.appendChild(p); p.focus();
    drop();
  }

  // ---- sending ----
  function sendLine() {
    var body = input.value.trim();
    if (!body || state === 'closed' || state === 'abandoned') return;
    queueLine({ body: body });
    input.value = '';
  }
  function queueLine(o) {
    o.client_id = 'm-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    outbox.push(o); persist();
    lastTyping = Math.min(lastTyping, Date.now() - 1500);
    pendingEl(o); scroll();
    send(lineFrame(o)); watchAcks();
    showState();
  }
  function lineFrame(o) {
    var f = { type: 'message', client_id: o.client_id, body: o.body };
    if (o.attachment) f.attachment_id = o.attachment.id;
    return f;
  }

  function showTyping(name) {
    clearTimeout(typingTimer);
    typingEl.textContent = name ? fmt(T.typing, { n: name }) : '';
    if (name) typingTimer = setTimeout(function () { typingEl.textContent = ''; }, 4000);
  }
  // Read receipts go only while the panel is open and the page visible.
  function markRead() {
    if (lastSeq && !panel.hidden && document.visibilityState !== 'hidden') send({ type: 'read', seq: lastSeq });
  }
  // Typing goes at most every 2 s while the visitor types, and only once
  // the chat exists (before it, the server has nobody to tell and a frame
  // sent then would only hold back the next one). A sent line ends a burst:
  // the next keystroke announces typing again after 0.5 s, not 2 s, so a
  // quick second line is announced too (and 2 a second stays the most).
  function typed() {
    var now = Date.now();
    if (contact && now - lastTyping > 2000 && input.value.trim() && send({ type: 'typing' })) lastTyping = now;
  }

  // Uploads use XHR for its progress events; the server's refusal is shown.
  function uploadFile() {
    var file = fileIn.files && fileIn.files[0];
    fileIn.value = '';
    if (!file || !token || state === 'closed') return;
    if (settings && file.size > settings.max_attachment_bytes) { progress.textContent = T.tooBig; return; }
    var fd = new FormData();
    fd.append('token', token); fd.append('file', file);
    var x = new XMLHttpRequest();
    x.open('POST', origin + '/chat/attachments?site=' + encodeURIComponent(site));
    x.upload.onprogress = function (e) { if (e.lengthComputable) progress.textContent = fmt(T.uploading, { f: file.name, p: Math.round(e.loaded * 100 / e.total) }); };
    x.onload = function () {
      if (x.status === 201) {
        progress.textContent = '';
        var a = JSON.parse(x.responseText);
        queueLine({ body: '', attachment: { id: a.id, name: file.name, content_type: a.content_type } });
      } else progress.textContent = (x.responseText || T.failed).trim();
    };
    x.onerror = function () { progress.textContent = T.failed; };
    x.send(fd);
  }

  // ---- the panel ----
  function openPanel() {
    panel.hidden = false; launcher.setAttribute('aria-expanded', 'true');
    if (!settings && !started) refreshSettings(focusFirst); else focusFirst();
    markRead();
  }
  function focusFirst() {
    var first = started ? input : form.querySelector('input,select,textarea,button');
    if (first && !panel.hidden) first.focus();
  }
  function closePanel() { panel.hidden = true; launcher.setAttribute('aria-expanded', 'false'); launcher.focus(); }

  launcher.addEventListener('click', function () { if (panel.hidden) openPanel(); else closePanel(); });
  closeBtn.addEventListener('click', closePanel);
  panel.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') closePanel(); });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!checkForm()) return;
    var v = values();
    put('form', v);
    if (settings && settings.offline) {
      offlineMsg = { type: 'offline_message', client_id: 'o-' + Date.now().toString(36), name: v.name || '', email: v.email || '',
        phone: v.phone || '', body: v.body };
      if (ws && ws.readyState === 1) send(offlineMsg); else connect();
      return;
    }
    // The chat starts with the first line; the welcome confirms the form.
    drop(); connect();
    started = true; put('started', true);
    showConversation();
  });
  sendBtn.addEventListener('click', sendLine);
  input.addEventListener('input', typed);
  input.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); sendLine(); } });
  attachBtn.addEventListener('click', function () { fileIn.click(); });
  fileIn.addEventListener('change', uploadFile);
  endBtn.addEventListener('click', function () { send({ type: 'end' }); });
  // The transcript goes to the form's address, or to one asked for here.
  function mailTranscript(to) {
    to = to || (get('form') || {}).email || '';
    if (!to) { mailBox.hidden = false; mailIn.focus(); return; }
    mailNote.textContent = send({ type: 'transcript', email: to }) ? T.sending : T.reconnecting;
  }
  mailBtn.addEventListener('click', function () { mailTranscript(''); });
  mailGo.addEventListener('click', function () { mailTranscript(mailIn.value.trim()); });
  mailIn.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { ev.preventDefault(); mailTranscript(mailIn.value.trim()); } });
  againBtn.addEventListener('click', function () {
    token = ''; contact = ''; lastSeq = 0; outbox = []; lines = {}; state = 'new'; agentName = ''; agentRead = 0; started = false;
    mailNote.textContent = ''; mailBox.hidden = true;
    put('token', ''); put('contact', ''); put('started', false); persist(); drop();
    settings = null; refreshSettings(focusFirst);
  });
  document.addEventListener('visibilitychange', markRead);
  // The browser knows first when the network goes: stop using the socket
  // (it may linger half-open) and come back at once when it returns.
  addEventListener('offline', function () { drop(); showState(); });
  addEventListener('online', function () { delay = 500; connect(); });
  // Another tab of the same visitor started a chat: follow it. (Tokens
  // are re-signed on every welcome, so the chat's id is compared.)
  addEventListener('storage', function (ev) {
    if (ev.key !== key + 'contact') return;
    var c = get('contact');
    if (c && c !== contact) {
      contact = c; token = get('token') || ''; lines = {}; lastSeq = 0; outbox = get('outbox') || []; state = 'new';
      started = true; drop(); showConversation(); connect();
    }
  });

  if (started) { showConversation(); connect(); }
})();
