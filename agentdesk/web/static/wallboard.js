import { connect, el, mmss } from './socket.js';

let gauges = null;
let receivedAt = 0;

function render() {
  if (!gauges) return;
  for (const k of ['available', 'busy', 'away', 'offline']) {
    document.querySelector(`[data-testid=agents-${k}]`).textContent = gauges.agents[k] ?? 0;
  }
  const elapsed = (Date.now() - receivedAt) / 1000;
  const qs = document.getElementById('queues');
  qs.replaceChildren(...gauges.queues.map((q) => {
    const wait = q.waiting > 0 ? q.longest_wait_seconds + elapsed : 0;
    const cls = wait > 60 ? 'longest-wait red' : wait > 30 ? 'longest-wait amber' : 'longest-wait';
    return el('tr', { 'data-testid': 'queue-row', 'data-queue': q.name },
      el('th', {}, q.name),
      el('td', { class: 'waiting' }, q.waiting),
      el('td', { class: cls }, mmss(wait)),
      el('td', { class: 'offered' }, q.offered));
  }));
  const as = document.getElementById('agents');
  as.replaceChildren(...gauges.agent_list.map((a) => el('tr', { class: 'agent ' + a.presence },
    el('td', {}, a.name),
    el('td', { class: 'state' }, a.presence),
    el('td', {}, Object.entries(a.load || {}).map(([ch, n]) => `${ch} ${n}`).join(', ') || '–'))));
}

connect('/ws/wallboard', {
  onFrame(f) {
    if (f.type === 'snapshot' || f.type === 'gauges') {
      gauges = f.gauges;
      receivedAt = Date.now();
      render();
    }
  },
  onState(up) {
    document.querySelector('[data-testid=conn]').textContent = up ? 'connected' : 'reconnecting…';
    document.body.classList.toggle('offline', !up);
  },
  onClose(ev) {
    if (ev.code === 4401) { location.href = '/login?next=/wallboard'; return false; }
  },
});
setInterval(render, 1000);
