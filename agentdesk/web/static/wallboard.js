import { connect, el, mmss } from './socket.js';

let gauges = null;

// Below 80% is amber, below 60% red: the usual 80/20 target.
function slClass(today) {
  if (!today || today.service_level == null) return '';
  return today.service_level < 0.6 ? ' red' : today.service_level < 0.8 ? ' amber' : ' ok';
}
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
      el('td', { class: 'offered' }, q.offered),
      el('td', { class: 'sl' + slClass(q.today) }, q.today && q.today.service_level != null ? Math.round(q.today.service_level * 100) + '%' : '–'),
      el('td', { class: 'answered' }, q.today ? `${q.today.answered} / ${q.today.offered}` : '–'),
      el('td', { class: 'abandoned' }, q.today ? String(q.today.abandoned) : '–'),
      el('td', { class: 'asa' }, q.today && q.today.asa_seconds != null ? mmss(q.today.asa_seconds) : '–'),
      el('td', { class: 'aht' }, q.today && q.today.aht_seconds != null ? mmss(q.today.aht_seconds) : '–'));
  }));
  const q0 = gauges.queues.find((q) => q.today);
  document.getElementById('sl-definition').textContent = q0
    ? `Service level: ${q0.today.sl_definition}, answered within each queue's threshold (${gauges.queues.map((q) => q.name + ' ' + (q.today ? q.today.sl_seconds : '?') + ' s').join(', ')}), since local midnight.`
    : '';
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
