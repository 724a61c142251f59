/* Switchboard chat widget. One line on a dealer's page adds it:
 *   <script src="https://switchboard.example/chat.js" data-site="KEY" async></script>
 * Lines are kept until the server acks them after commit and resent with the
 * same client_id after a reconnect; a reload resumes the same chat. Text is
 * only ever set as text, never as HTML. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src, location.href).origin;
  var site = script.getAttribute('data-site') || '';
  var store = 'sb-chat:' + site + ':';
  var T = (navigator.language || '').toLowerCase().indexOf('zh') === 0 ? {
    open: '在线咨询', title: '在线客服', name: '您的姓名', email: '电子邮箱', start: '开始咨询', send: '发送',
    waiting: '正在为您接通客服…', chatting: '正在与 {n} 对话', ended: '对话已结束', reconnecting: '正在重新连接…',
    again: '开始新的对话', placeholder: '请输入消息…', close: '关闭',
    typing: '{n} 正在输入…', end: '结束对话', attach: '发送文件', place: '您前面还有 {p} 位', read: '已读', sent: '已送达'
  } : {
    open: 'Chat with us', title: 'Chat with us', name: 'Your name', email: 'E-mail', start: 'Start chat', send: 'Send',
    waiting: 'Waiting for an agent…', chatting: 'Chatting with {n}', ended: 'Chat ended', reconnecting: 'Reconnecting…',
    again: 'Start a new chat', placeholder: 'Write a message…', close: 'Close',
    typing: '{n} is typing…', end: 'End chat', attach: 'Send a file', place: 'You are number {p} in the queue', read: 'Read', sent: 'Delivered'
  };

  function get(k) { try { return JSON.parse(localStorage.getItem(store + k)); } catch (e) { return null; } }
  function put(k, v) { try { localStorage.setItem(store + k, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  function h(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  var css = h('link', { rel: 'stylesheet', href: origin + '/static/chat.css' });
  document.head.appendChild(css);

  var launcher = h('button', { id: 'sb-chat-launcher', type: 'button', 'aria-label': T.open, 'aria-expanded': 'false' }, T.open);
  var panel = h('div', { id: 'sb-chat-panel', role: 'dialog', 'aria-label': T.title, hidden: '' });
  var head = h('div', { class: 'sb-head' });
  head.appendChild(h('span', {}, T.title));
  var closeBtn = h('button', { type: 'button', class: 'sb-close', 'aria-label': T.close }, '×');
  head.appendChild(closeBtn);
  var status = h('div', { id: 'sb-status', role: 'status' });
  var form = h('form', { id: 'sb-form' });
  var nameIn = h('input', { id: 'sb-name', autocomplete: 'name', maxlength: '100', 'aria-label': T.name, placeholder: T.name });
  var emailIn = h('input', { id: 'sb-email', type: 'email', autocomplete: 'email', maxlength: '254', 'aria-label': T.email, placeholder: T.email });
  var startBtn = h('button', { id: 'sb-start', type: 'submit' }, T.start);
  form.appendChild(nameIn); form.appendChild(emailIn); form.appendChild(startBtn);
  var conv = h('div', { id: 'sb-conv', hidden: '' });
  var list = h('div', { id: 'sb-transcript', 'aria-live': 'polite' });
  var input = h('textarea', { id: 'sb-input', rows: '2', maxlength: '4000', 'aria-label': T.placeholder, placeholder: T.placeholder });
  var sendBtn = h('button', { id: 'sb-send', type: 'button' }, T.send);
  var againBtn = h('button', { id: 'sb-again', type: 'button', hidden: '' }, T.again);
  var composer = h('div', { class: 'sb-composer' });
  composer.appendChild(input); composer.appendChild(sendBtn);
  // Typing, receipts, attachments, end chat and the queue place (issue 5).
  var typingEl = h('div', { id: 'sb-typing', 'aria-live': 'polite' });
  var waitEl = h('div', { id: 'sb-wait', role: 'status' });
  var fileIn = h('input', { id: 'sb-file', type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp,application/pdf', 'aria-label': T.attach });
  var endBtn = h('button', { id: 'sb-end', type: 'button' }, T.end);
  composer.appendChild(fileIn);
  conv.appendChild(waitEl); conv.appendChild(list); conv.appendChild(typingEl); conv.appendChild(composer); conv.appendChild(endBtn); conv.appendChild(againBtn);
  panel.appendChild(head); panel.appendChild(status); panel.appendChild(form); panel.appendChild(conv);

  function mount() { document.body.appendChild(launcher); document.body.appendChild(panel); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  var token = get('token') || '';
  var lastSeq = get('seq') || 0;
  var outbox = get('outbox') || [];   // [{client_id, body}] not yet acked
  var lines = {};                      // seq → line
  var ws = null, fresh = false, delay = 500, state = 'new', agentName = '', started = !!token;
  var agentRead = 0, typingTimer = null, lastTyping = 0;

  function setStatus(text) { status.textContent = text; }
  function showState() {
    if (!ws || ws.readyState !== 1) { setStatus(T.reconnecting); }
    else if (state === 'active') setStatus(T.chatting.replace('{n}', agentName || '…'));
    else if (state === 'closed') setStatus(T.ended);
    else if (state === 'queued' || outbox.length) setStatus(T.waiting);
    else setStatus('');
    var ended = state === 'closed' || state === 'abandoned';
    input.disabled = ended; sendBtn.disabled = ended; againBtn.hidden = !ended; endBtn.hidden = ended; fileIn.disabled = ended;
    if (state !== 'queued') waitEl.textContent = '';
  }

  function render() {
    var items = Object.keys(lines).map(Number).sort(function (a, b) { return a - b; }).map(function (s) { return lines[s]; });
    var acked = {};
    items.forEach(function (m) { if (m.client_id) acked[m.client_id] = true; });
    list.textContent = '';
    items.forEach(function (m) {
      var d = h('div', { class: 'sb-msg sb-msg-' + m.author_kind, 'data-seq': String(m.seq) });
      if (m.author_kind === 'agent') d.appendChild(h('div', { class: 'sb-who' }, m.author_name || ''));
      d.appendChild(m.attachment ? attachmentEl(m.attachment) : bodyEl(m.body));
      if (m.author_kind === 'customer') d.appendChild(h('span', { class: 'sb-receipt', 'aria-label': m.seq <= agentRead ? T.read : T.sent }, m.seq <= agentRead ? '✓✓' : '✓'));
      list.appendChild(d);
    });
    outbox.forEach(function (o) {
      if (acked[o.client_id]) return;
      var d = h('div', { class: 'sb-msg sb-msg-customer sb-pending' });
      d.appendChild(h('div', { class: 'sb-body' }, o.attachment ? o.attachment.name : o.body));
      list.appendChild(d);
    });
    list.scrollTop = list.scrollHeight;
  }

  function send(f) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(f)); return true; } return false; }

  function connect() {
    var url = origin.replace(/^http/, 'ws') + '/chat/ws?site=' + encodeURIComponent(site);
    ws = new WebSocket(url);
    ws.onopen = function () {
      delay = 500; fresh = true;
      var hello = { type: 'hello', token: token, name: get('name') || '', email: get('email') || '', last_seq: lastSeq };
      var ct = script.getAttribute('data-customer-token');
      if (ct) hello.customer_token = ct;
      send(hello);
    };
    ws.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === 'welcome') {
        token = f.token; put('token', token);
        if (f.state) state = f.state;
        if (f.agent_read_seq) agentRead = f.agent_read_seq;
        if (!f.contact_id && lastSeq) { lastSeq = 0; lines = {}; put('seq', 0); }
        // After a (re)connect, resend what the server never acked, with the
        // same client ids: it stores each once.
        if (fresh) outbox.forEach(function (o) { send(lineFrame(o)); });
        fresh = false;
      } else if (f.type === 'ack') {
        outbox = outbox.filter(function (o) {
          if (o.client_id !== f.client_id) return true;
          lines[f.seq] = lines[f.seq] || { seq: f.seq, author_kind: 'customer', body: o.body, client_id: o.client_id, attachment: o.attachment };
          return false;
        });
        put('outbox', outbox);
        if (f.seq > lastSeq) { lastSeq = f.seq; put('seq', lastSeq); }
        render();
      } else if (f.type === 'message') {
        lines[f.seq] = f;
        if (f.seq > lastSeq) { lastSeq = f.seq; put('seq', lastSeq); }
        if (f.author_kind === 'agent') { showTyping(''); markRead(); }
        render();
      } else if (f.type === 'typing') {
        showTyping(f.name || agentName);
      } else if (f.type === 'read') {
        if (f.seq > agentRead) { agentRead = f.seq; updateReceipts(); }
      } else if (f.type === 'wait') {
        waitEl.textContent = T.place.replace('{p}', f.position) + (f.wait_seconds ? ' (~' + Math.max(1, Math.round(f.wait_seconds / 60)) + ' min)' : '');
      } else if (f.type === 'state') {
        state = f.state;
        if (f.agent_name) agentName = f.agent_name;
        if (state === 'active') markRead();
      } else if (f.type === 'error' && (f.field || f.code === 'bad_customer_token')) {
        setStatus(f.message);
      } else if (f.type === 'error' && f.code === 'closed') {
        state = 'closed';
        outbox = []; put('outbox', outbox);
        render();
      }
      showState();
    };
    ws.onclose = function () {
      showState();
      var wait = delay / 2 + Math.random() * delay / 2;
      delay = Math.min(delay * 2, 10000);
      setTimeout(connect, wait);
    };
  }

  function showConversation() { form.hidden = true; conv.hidden = false; render(); showState(); }

  function sendLine() {
    var body = input.value.trim();
    if (!body || state === 'closed') return;
    queueLine({ body: body });
    input.value = '';
  }

  function queueLine(o) {
    o.client_id = 'm-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    outbox.push(o); put('outbox', outbox);
    send(lineFrame(o));
    render(); showState();
  }

  function lineFrame(o) {
    var f = { type: 'message', client_id: o.client_id, body: o.body };
    if (o.attachment) f.attachment_id = o.attachment.id;
    return f;
  }

  // Visitor text is only ever text; links become anchors to http(s) only.
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
    var link = h('a', { class: 'sb-file', href: attachmentURL(a), target: '_blank', rel: 'noopener noreferrer', download: a.name }, a.name);
    if (a.content_type.indexOf('image/') === 0) {
      link.textContent = '';
      link.appendChild(h('img', { class: 'sb-thumb', src: attachmentURL(a), alt: a.name }));
    }
    return link;
  }

  // Receipts change in place: redrawing the transcript on every receipt
  // would move the visitor's selection and scroll.
  function updateReceipts() {
    list.querySelectorAll('.sb-msg-customer[data-seq]').forEach(function (d) {
      var r = d.querySelector('.sb-receipt'), read = Number(d.getAttribute('data-seq')) <= agentRead;
      if (r) { r.textContent = read ? '✓✓' : '✓'; r.setAttribute('aria-label', read ? T.read : T.sent); }
    });
  }

  function showTyping(name) {
    clearTimeout(typingTimer);
    typingEl.textContent = name ? T.typing.replace('{n}', name) : '';
    if (name) typingTimer = setTimeout(function () { typingEl.textContent = ''; }, 4000);
  }

  // Read receipts go only while the panel is open and the page visible.
  function markRead() {
    if (lastSeq && !panel.hasAttribute('hidden') && document.visibilityState !== 'hidden') send({ type: 'read', seq: lastSeq });
  }

  function typed() {
    var now = Date.now();
    if (now - lastTyping > 2000 && input.value) { lastTyping = now; send({ type: 'typing' }); }
  }

  function uploadFile() {
    var file = fileIn.files && fileIn.files[0];
    fileIn.value = '';
    if (!file || !token || state === 'closed') return;
    var form = new FormData();
    form.append('token', token);
    form.append('file', file);
    fetch(origin + '/chat/attachments?site=' + encodeURIComponent(site), { method: 'POST', body: form })
      .then(function (r) { return r.ok ? r.json() : r.text().then(function (t) { throw new Error(t); }); })
      .then(function (a) { queueLine({ body: '', attachment: { id: a.id, name: file.name, content_type: a.content_type } }); })
      .catch(function (e) { setStatus(String(e.message || e)); });
  }

  launcher.addEventListener('click', function () {
    var open = panel.hasAttribute('hidden');
    if (open) panel.removeAttribute('hidden'); else panel.setAttribute('hidden', '');
    launcher.setAttribute('aria-expanded', String(open));
    if (open) { (started ? input : nameIn).focus(); markRead(); }
  });
  closeBtn.addEventListener('click', function () { panel.setAttribute('hidden', ''); launcher.setAttribute('aria-expanded', 'false'); launcher.focus(); });
  panel.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') closeBtn.click(); });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    put('name', nameIn.value.trim()); put('email', emailIn.value.trim());
    started = true;
    showConversation();
    if (!ws) connect();
    input.focus();
  });
  sendBtn.addEventListener('click', sendLine);
  input.addEventListener('input', typed);
  fileIn.addEventListener('change', uploadFile);
  endBtn.addEventListener('click', function () { send({ type: 'end' }); });
  document.addEventListener('visibilitychange', markRead);
  input.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); sendLine(); } });
  againBtn.addEventListener('click', function () {
    token = ''; lastSeq = 0; outbox = []; lines = {}; state = 'new'; agentName = '';
    put('token', ''); put('seq', 0); put('outbox', []);
    if (ws) ws.close(); // reconnects with an empty token: a fresh chat
    render(); showState();
  });

  if (started) { showConversation(); connect(); }
})();
