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
      el('td', { class: 'aht' }, q.today && q.today.aht_seconds != null ? mmss(q.today.aht_seconds) : '–'),
      el('td', { class: 'unreturned' + (q.unreturned > 0 ? ' amber' : ''), 'data-testid': 'unreturned' }, String(q.unreturned ?? 0)));
  }));
  const q0 = gauges.queues.find((q) => q.today);
  document.getElementById('sl-definition').textContent = q0
    ? `Service level: ${q0.today.sl_definition}, answered within each queue's threshold (${gauges.queues.map((q) => q.name + ' ' + (q.today ? q.today.sl_seconds : '?') + ' s').join(', ')}), since local midnight.`
    : '';
  const as = document.getElementById('agents');
  // Redrawing the rows would close a state menu a supervisor has open.
  if (document.activeElement && document.activeElement.closest('#agents')) return;
  as.replaceChildren(...gauges.agent_list.map((a) => el('tr', { class: 'agent ' + a.presence },
    el('td', {}, a.name),
    el('td', { class: 'state' }, a.presence),
    el('td', {}, Object.entries(a.load || {}).map(([ch, n]) => `${ch} ${n}`).join(', ') || '–'),
    el('td', {}, forceControl(a)))));
}

const csrf = document.querySelector('meta[name=csrf-token]').content;

// forceControl lets a supervisor set an agent's state for them.
function forceControl(a) {
  const pick = el('select', { 'aria-label': `Set ${a.name}'s state`, 'data-testid': 'force-state' },
    el('option', { value: '' }, 'Set state…'),
    el('option', { value: 'available' }, 'Available'),
    el('option', { value: 'away' }, 'Away'),
    el('option', { value: 'offline' }, 'Offline'));
  pick.addEventListener('change', async () => {
    if (!pick.value) return;
    const res = await fetch(`/api/agents/${encodeURIComponent(a.id)}/presence`, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ state: pick.value, reason: pick.value === 'away' ? 'supervisor' : '' }),
    });
    if (!res.ok) alertBox(`Could not change ${a.name}'s state (${res.status}).`);
    pick.blur();
  });
  return pick;
}

function alertBox(text) {
  const box = document.getElementById('wall-message');
  box.textContent = text;
  setTimeout(() => { box.textContent = ''; }, 8000);
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
