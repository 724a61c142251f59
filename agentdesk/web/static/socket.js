// A websocket that reconnects with jittered exponential backoff (0.5 s to
// 10 s). Every (re)connect is announced, so the page can expect a fresh
// snapshot from the server.
export function connect(path, { onFrame, onState, onClose }) {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
  let ws = null;
  let delay = 500;
  let stopped = false;

  function open() {
    ws = new WebSocket(url);
    ws.onopen = () => { delay = 500; onState && onState(true); };
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      onFrame(f);
    };
    ws.onclose = (ev) => {
      onState && onState(false);
      if (onClose && onClose(ev) === false) { stopped = true; }
      if (stopped) return;
      const wait = delay / 2 + Math.random() * delay / 2;
      delay = Math.min(delay * 2, 10000);
      setTimeout(open, wait);
    };
  }
  open();
  let n = 0;
  return {
    send(frame) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      if (!frame.id) frame.id = 'f' + (++n);
      ws.send(JSON.stringify(frame));
      return frame.id;
    },
    stop() { stopped = true; ws && ws.close(); },
  };
}

// el builds an element; children are nodes or strings (set as text, never HTML).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' }) + ' ' + fmtTime(iso);
}

export function mmss(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return String(m).padStart(2, '0') + ':' + String(s).padStart(2, '0');
}
