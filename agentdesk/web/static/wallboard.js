import { connect, el, mmss } from './socket.js';

// The supervisor wallboard: gauges pushed at most once a second, each
// queue's figures coloured at the thresholds supervisors set, sparklines of
// the last hour, agents filtered by site and team, and the actions (force
// a state, move a waiting contact). ?screen=1 is the wall-screen mode:
// large type, no controls, nothing to click; the socket reconnects by itself.

const csrf = document.querySelector('meta[name=csrf-token]').content;
const screen = new URLSearchParams(location.search).get('screen') === '1';
document.body.classList.toggle('screen', screen);
if (screen) {
  const t = document.getElementById('screen-toggle');
  t.href = '/wallboard';
  t.textContent = 'Leave wall screen';
}

let gauges = null;
let receivedAt = 0;
// ctx is what the pushes do not carry (GET /api/wallboard): sites, teams,
// agents' sites, thresholds set (and the defaults), the last hour.
let ctx = { sites: [], teams: [], agent_sites: {}, thresholds: {}, default_thresholds: null, history: [] };
// A threshold just saved or announced wins over the pushes for a while:
// the node publishing gauges reads thresholds through a 5 s cache.
const overrides = new Map(); // queue id → {t, at}

// Sparklines: per queue, points {t (ms), w (waiting), sl (0..1 or null)},
// from the minute history and then every push, thinned to one per 10 s.
const HOUR = 3600 * 1000;
const series = new Map();

function addPoint(id, t, w, sl) {
  let s = series.get(id);
  if (!s) { s = []; series.set(id, s); }
  const last = s[s.length - 1];
  if (last && t < last.t) return;
  if (last && t - last.t < 10000 && s.length > 1 && t - s[s.length - 2].t < 10000) s[s.length - 1] = { t, w, sl };
  else s.push({ t, w, sl });
  while (s.length && s[0].t < t - HOUR) s.shift();
}

function thresholdsOf(q) {
  const o = overrides.get(q.id);
  if (o && Date.now() - o.at < 15000) return o.t;
  return q.thresholds || ctx.thresholds[q.id] || ctx.default_thresholds || { sl_goal: 0.8, sl_red: 0.6, wait_amber_seconds: 30, wait_red_seconds: 60 };
}

function slClass(q, th) {
  const v = q.today ? q.today.service_level : null;
  if (v == null) return '';
  return v < th.sl_red ? ' red' : v < th.sl_goal ? ' amber' : ' ok';
}

function pct(v) { return v == null ? '–' : Math.round(v * 100) + '%'; }

// spark draws one series as an SVG polyline over the last hour.
function spark(points, key, max, label) {
  const W = 120, H = 28;
  const now = Date.now();
  const pts = points.filter((p) => p[key] != null)
    .map((p) => [Math.max(0, W - (now - p.t) / HOUR * W), H - 2 - (p[key] / (max || 1)) * (H - 4)]);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'spark spark-' + key);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('data-points', String(pts.length));
  if (pts.length) {
    // A step to now: no push means no change.
    pts.push([W, pts[pts.length - 1][1]]);
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
    svg.append(line);
  }
  return svg;
}

function visibleAgents() {
  const site = document.getElementById('filter-site').value;
  const team = document.getElementById('filter-team').value;
  const members = team ? new Set((ctx.teams.find((t) => t.id === team) || { members: [] }).members) : null;
  return gauges.agent_list.filter((a) => (!site || ctx.agent_sites[a.id] === site) && (!members || members.has(a.id)));
}

function agentName(id) {
  const a = gauges && gauges.agent_list.find((x) => x.id === id);
  return a ? a.name : id.slice(0, 8);
}

function render() {
  if (!gauges) return;
  document.getElementById('clock').textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const agents = visibleAgents();
  const counts = { available: 0, busy: 0, away: 0, offline: 0 };
  for (const a of agents) counts[a.presence] = (counts[a.presence] || 0) + 1;
  for (const k of ['available', 'busy', 'away', 'offline']) {
    document.querySelector(`[data-testid=agents-${k}]`).textContent = counts[k];
  }
  const elapsed = (Date.now() - receivedAt) / 1000;
  const qs = document.getElementById('queues');
  const maxWaiting = Math.max(1, ...[...series.values()].flat().map((p) => p.w));
  qs.replaceChildren(...gauges.queues.map((q) => {
    const th = thresholdsOf(q);
    const wait = q.waiting > 0 ? q.longest_wait_seconds + elapsed : 0;
    const cls = wait >= th.wait_red_seconds ? 'longest-wait red' : wait >= th.wait_amber_seconds ? 'longest-wait amber' : 'longest-wait';
    const e = q.erlang || {};
    const needed = e.agents_needed;
    const short = needed != null && needed > (q.available ?? 0);
    const pts = series.get(q.id) || [];
    return el('tr', { 'data-testid': 'queue-row', 'data-queue': q.name, 'data-queue-id': q.id },
      el('th', {}, q.name),
      el('td', { class: 'waiting' }, q.waiting),
      el('td', { class: cls, 'data-wait-amber': th.wait_amber_seconds, 'data-wait-red': th.wait_red_seconds }, mmss(wait)),
      el('td', { class: 'offered' }, q.offered),
      el('td', { class: 'sl' + slClass(q, th), title: `goal ${pct(th.sl_goal)}, red below ${pct(th.sl_red)}`, 'data-goal': th.sl_goal, 'data-red': th.sl_red },
        q.today && q.today.service_level != null ? Math.round(q.today.service_level * 100) + '%' : '–'),
      el('td', { class: 'answered' }, q.today ? `${q.today.answered} / ${q.today.offered}` : '–'),
      el('td', { class: 'abandoned' }, q.today ? String(q.today.abandoned) : '–'),
      el('td', { class: 'abandon-rate' }, q.today ? pct(q.today.abandon_rate) : '–'),
      el('td', { class: 'asa' }, q.today && q.today.asa_seconds != null ? mmss(q.today.asa_seconds) : '–'),
      el('td', { class: 'aht', 'data-seconds': q.today && q.today.aht_seconds != null ? q.today.aht_seconds : '' }, q.today && q.today.aht_seconds != null ? mmss(q.today.aht_seconds) : '–'),
      el('td', {
        class: 'needed' + (short ? ' red' : ''), 'data-testid': 'agents-needed',
        title: e.arrivals_per_hour != null ? `${e.arrivals} arrivals in the last ${Math.round(e.window_seconds / 60)} min (${e.arrivals_per_hour.toFixed(1)}/h), AHT ${e.aht_seconds != null ? mmss(e.aht_seconds) : 'unknown yet'}, goal ${pct(e.goal)} within ${e.target_seconds} s` : '',
      }, needed != null ? String(needed) : '–'),
      el('td', { class: 'available', 'data-testid': 'agents-available-for' }, String(q.available ?? 0)),
      el('td', { class: 'unreturned' + (q.unreturned > 0 ? ' amber' : ''), 'data-testid': 'unreturned' }, String(q.unreturned ?? 0)),
      el('td', { class: 'trend' },
        spark(pts, 'w', maxWaiting, `${q.name}: waiting over the last hour`),
        spark(pts, 'sl', 1, `${q.name}: service level over the last hour`)),
      el('td', { class: 'control actions' },
        el('button', { type: 'button', 'data-testid': 'drill-open', onclick: () => openDrill(q.id) }, 'Waiting…'),
        el('button', { type: 'button', 'data-testid': 'thresholds-open', onclick: () => openThresholds(q) }, 'Colours…')));
  }));
  const q0 = gauges.queues.find((q) => q.today);
  document.getElementById('sl-definition').textContent = q0
    ? `Service level: ${q0.today.sl_definition}, answered within each queue's threshold (${gauges.queues.map((q) => `${q.name} ${q.today ? q.today.sl_seconds : '?'} s, goal ${pct(thresholdsOf(q).sl_goal)}`).join('; ')}), since local midnight.`
    : '';
  document.getElementById('erlang-note').textContent = gauges.queues.length
    ? 'Agents needed: Erlang C at the last half hour\'s arrival rate and today\'s AHT, for each queue\'s service-level goal; – until a contact has been handled today.'
    : '';
  renderDrillWaits();
  const as = document.getElementById('agents');
  // Redrawing the rows would close a state menu a supervisor has open.
  if (document.activeElement && document.activeElement.closest('#agents')) return;
  const now = Date.now();
  as.replaceChildren(...agents.map((a) => el('tr', { class: 'agent ' + a.presence, 'data-testid': 'agent-row', 'data-agent': a.id },
    el('td', {}, a.name),
    el('td', { class: 'state' }, a.presence),
    el('td', { class: 'in-state' }, a.presence_since ? mmssLong((now - Date.parse(a.presence_since)) / 1000) : '–'),
    el('td', { class: 'contacts' }, String(a.contacts ?? 0)),
    el('td', { class: 'handled' }, String(a.handled_today ?? 0)),
    el('td', {}, Object.entries(a.load || {}).map(([ch, n]) => `${ch} ${n}`).join(', ') || '–'),
    el('td', { class: 'control' }, forceControl(a)))));
}

// mmssLong shows hours once they pass: 1:05:09.
function mmssLong(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 3600) return mmss(seconds);
  const h = Math.floor(seconds / 3600);
  return h + ':' + mmss(seconds % 3600);
}

// forceControl lets a supervisor set an agent's state for them.
function forceControl(a) {
  const pick = el('select', { 'aria-label': `Set ${a.name}'s state`, 'data-testid': 'force-state' },
    el('option', { value: '' }, 'Set state…'),
    el('option', { value: 'available' }, 'Available'),
    el('option', { value: 'away' }, 'Away'),
    el('option', { value: 'offline' }, 'Offline'));
  pick.addEventListener('change', async () => {
    if (!pick.value) return;
    const res = await api('POST', `/api/agents/${encodeURIComponent(a.id)}/presence`,
      { state: pick.value, reason: pick.value === 'away' ? 'supervisor' : '' });
    if (!res.ok) alertBox(`Could not change ${a.name}'s state (${res.status}).`);
    pick.blur();
  });
  return pick;
}

function api(method, url, body) {
  return fetch(url, {
    method, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function errorText(res) {
  try { const j = await res.json(); return j.message || j.error || String(res.status); } catch { return String(res.status); }
}

function alertBox(text) {
  const box = document.getElementById('wall-message');
  box.textContent = text;
  setTimeout(() => { box.textContent = ''; }, 8000);
}

// The drill-down: a queue's waiting contacts (ids, channel, wait; never
// who the customer is), each movable to another queue or a named agent.
let drill = null; // {queue, contacts, fetchedAt, waiting}

async function openDrill(queueId) {
  drill = { queue: queueId, contacts: [], fetchedAt: 0, waiting: -1 };
  document.getElementById('drill').hidden = false;
  await loadDrill();
}

async function loadDrill() {
  if (!drill) return;
  const queueId = drill.queue;
  const res = await api('GET', `/api/queues/${encodeURIComponent(queueId)}/waiting`);
  if (!drill || drill.queue !== queueId) return;
  if (!res.ok) { document.getElementById('drill-note').textContent = `Could not list the waiting contacts (${await errorText(res)}).`; return; }
  const j = await res.json();
  drill.contacts = j.contacts;
  drill.fetchedAt = Date.now();
  const q = gauges && gauges.queues.find((x) => x.id === queueId);
  drill.waiting = q ? q.waiting : -1;
  document.getElementById('drill-title').textContent = `Waiting in ${q ? q.name : 'the queue'}: ${j.total}`;
  document.getElementById('drill-note').textContent = j.total > j.contacts.length ? `The oldest ${j.contacts.length} of ${j.total}.` : '';
  const others = gauges ? gauges.queues.filter((x) => x.id !== queueId) : [];
  const agents = gauges ? gauges.agent_list : [];
  document.getElementById('drill-rows').replaceChildren(...j.contacts.map((c) => {
    const toQueue = el('select', { 'aria-label': 'Move to queue', 'data-testid': 'move-queue' },
      el('option', { value: '' }, 'Queue…'), ...others.map((x) => el('option', { value: x.id }, x.name)));
    const toAgent = el('select', { 'aria-label': 'Send to agent', 'data-testid': 'move-agent' },
      el('option', { value: '' }, 'Agent…'), ...agents.map((a) => el('option', { value: a.id }, `${a.name} (${a.presence})`)));
    return el('tr', { 'data-testid': 'waiting-contact', 'data-contact': c.id, 'data-arrived': c.arrived_at },
      el('td', { class: 'id', title: c.id }, c.id.slice(0, 8)),
      el('td', {}, el('span', { class: 'chan' }, c.channel)),
      el('td', { class: 'wait' }, mmss(c.wait_seconds)),
      el('td', {}, c.preferred_agents.map(agentName).join(', ') || '–'),
      el('td', {}, toQueue, el('button', {
        type: 'button', 'data-testid': 'move-queue-go',
        onclick: () => move(c.id, toQueue.value && `/api/contacts/${encodeURIComponent(c.id)}/queue`, { queue_id: toQueue.value }),
      }, 'Move')),
      el('td', {}, toAgent, el('button', {
        type: 'button', 'data-testid': 'move-agent-go',
        onclick: () => move(c.id, toAgent.value && `/api/contacts/${encodeURIComponent(c.id)}/agent`, { agent_id: toAgent.value }),
      }, 'Send')));
  }));
}

async function move(contact, url, body) {
  if (!url) return;
  const res = await api('POST', url, body);
  if (!res.ok) alertBox(`Could not move contact ${contact.slice(0, 8)}: ${await errorText(res)}.`);
  await loadDrill();
}

// The waits tick each second; the list reloads when the queue's count changed.
function renderDrillWaits() {
  if (!drill) return;
  const q = gauges.queues.find((x) => x.id === drill.queue);
  if (q && drill.fetchedAt && q.waiting !== drill.waiting && Date.now() - drill.fetchedAt > 1000) {
    drill.fetchedAt = Date.now();
    loadDrill();
    return;
  }
  for (const tr of document.querySelectorAll('#drill-rows tr')) {
    tr.querySelector('.wait').textContent = mmss((Date.now() - Date.parse(tr.dataset.arrived)) / 1000);
  }
}

document.getElementById('drill-close').addEventListener('click', () => {
  drill = null;
  document.getElementById('drill').hidden = true;
});

// The thresholds editor (PUT /api/queues/{id}/thresholds, audited).
let editing = null;
function openThresholds(q) {
  editing = q.id;
  const th = thresholdsOf(q);
  const f = document.getElementById('thresholds-form');
  document.getElementById('thresholds-title').textContent = `Colours of ${q.name}`;
  f.sl_goal.value = Math.round(th.sl_goal * 100);
  f.sl_red.value = Math.round(th.sl_red * 100);
  f.wait_amber_seconds.value = th.wait_amber_seconds;
  f.wait_red_seconds.value = th.wait_red_seconds;
  document.getElementById('thresholds-error').textContent = '';
  document.getElementById('thresholds').showModal();
}
document.getElementById('thresholds-cancel').addEventListener('click', () => document.getElementById('thresholds').close());
document.getElementById('thresholds-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = {
    sl_goal: Number(f.sl_goal.value) / 100, sl_red: Number(f.sl_red.value) / 100,
    wait_amber_seconds: Number(f.wait_amber_seconds.value), wait_red_seconds: Number(f.wait_red_seconds.value),
  };
  const res = await api('PUT', `/api/queues/${encodeURIComponent(editing)}/thresholds`, body);
  if (!res.ok) { document.getElementById('thresholds-error').textContent = await errorText(res); return; }
  const j = await res.json();
  overrides.set(j.queue_id, { t: j.thresholds, at: Date.now() });
  document.getElementById('thresholds').close();
  render();
});

for (const id of ['filter-site', 'filter-team']) {
  document.getElementById(id).addEventListener('change', () => {
    const u = new URL(location.href);
    const v = document.getElementById(id).value;
    const k = id === 'filter-site' ? 'site' : 'team';
    if (v) u.searchParams.set(k, v); else u.searchParams.delete(k);
    history.replaceState(null, '', u);
    render();
  });
}

// loadContext fetches the filters' choices, thresholds and the last hour;
// again every five minutes for new teams and sites.
async function loadContext(withHistory) {
  const res = await api('GET', '/api/wallboard');
  if (!res.ok) return;
  const j = await res.json();
  ctx = j;
  const params = new URLSearchParams(location.search);
  fill('filter-site', 'All sites', j.sites, params.get('site'));
  fill('filter-team', 'All teams', j.teams, params.get('team'));
  if (withHistory) {
    // The minutes before this page's first push, merged in time order.
    const pushed = new Map(series);
    series.clear();
    for (const m of j.history) {
      for (const [id, [w, sl]] of Object.entries(m.q)) addPoint(id, m.at * 1000, w, sl);
    }
    for (const [id, pts] of pushed) for (const p of pts) addPoint(id, p.t, p.w, p.sl);
  }
  render();
}

function fill(id, all, items, want) {
  const s = document.getElementById(id);
  const cur = s.value || want || '';
  s.replaceChildren(el('option', { value: '' }, all), ...items.map((x) => el('option', { value: x.id }, x.name)));
  if (items.some((x) => x.id === cur)) s.value = cur;
}

let historyLoaded = false;
connect('/ws/wallboard', {
  onFrame(f) {
    if (f.type === 'snapshot' || f.type === 'gauges') {
      gauges = f.gauges;
      receivedAt = Date.now();
      const at = gauges.at ? Date.parse(gauges.at) : Date.now();
      for (const q of gauges.queues) addPoint(q.id, at, q.waiting, q.today ? q.today.service_level : null);
      render();
    } else if (f.type === 'thresholds') {
      overrides.set(f.queue_id, { t: f.thresholds, at: Date.now() });
      render();
    }
  },
  onState(up) {
    document.querySelector('[data-testid=conn]').textContent = up ? 'connected' : 'reconnecting…';
    document.body.classList.toggle('offline', !up);
    if (up && !historyLoaded) { historyLoaded = true; loadContext(true); }
  },
  onClose(ev) {
    if (ev.code === 4401) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); return false; }
  },
});
setInterval(render, 1000);
setInterval(() => loadContext(false), 5 * 60 * 1000);
