// Reports page: formats the server-rendered tables and draws one SVG chart
// per group (queue, channel, agent or site): offered and answered as bars,
// service level as a line on its own 0-100% scale. No third-party code.
const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export function duration(seconds) {
  const s = Math.round(Number(seconds) || 0);
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function percent(v) {
  return v === '' || v === null || v === undefined ? '–' : `${(Number(v) * 100).toFixed(1)}%`;
}

// label is a bucket's start as the page shows it: local time of its zone
// (the server sends RFC 3339 with the zone's offset).
function label(start, many) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(start);
  if (!m) return start;
  return many ? `${m[3]} ${m[4]}:${m[5]}` : `${m[2]}-${m[3]} ${m[4]}:${m[5]}`;
}

export function chart(group) {
  const W = 720, H = 220, L = 40, R = 44, T = 14, B = 28;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-testid': 'chart-svg' });
  svg.append(el('title', {}, `${group.Name}: offered, answered and service level`));
  const lines = group.Lines || [];
  const max = Math.max(1, ...lines.map((l) => l.offered + l.transferred_in), ...lines.map((l) => l.answered));
  const n = Math.max(1, lines.length);
  const slot = (W - L - R) / n;
  const bar = Math.max(1, Math.min(18, slot / 2 - 2));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const ySL = (v) => T + (H - T - B) * (1 - v);
  // axes and scale
  svg.append(el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#98a2b3' }));
  svg.append(el('text', { x: L - 6, y: y(max) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5a6472' }, String(max)));
  svg.append(el('text', { x: L - 6, y: H - B, 'text-anchor': 'end', 'font-size': 11, fill: '#5a6472' }, '0'));
  svg.append(el('text', { x: W - R + 6, y: ySL(1) + 4, 'font-size': 11, fill: '#1a7f37' }, '100%'));
  svg.append(el('text', { x: W - R + 6, y: ySL(0), 'font-size': 11, fill: '#1a7f37' }, '0%'));
  const every = Math.ceil(n / 12);
  const points = [];
  lines.forEach((l, i) => {
    const x = L + i * slot + slot / 2;
    const offered = l.offered + l.transferred_in;
    svg.append(el('rect', { x: x - bar - 1, y: y(offered), width: bar, height: H - B - y(offered), fill: '#9fb3c8',
      'data-testid': 'bar-offered', 'data-value': offered }));
    svg.append(el('rect', { x: x + 1, y: y(l.answered), width: bar, height: H - B - y(l.answered), fill: '#0b5cad',
      'data-testid': 'bar-answered', 'data-value': l.answered }));
    if (i % every === 0) {
      svg.append(el('text', { x, y: H - B + 16, 'text-anchor': 'middle', 'font-size': 10, fill: '#5a6472' }, label(l.start, n > 1)));
    }
    if (l.service_level !== null && l.service_level !== undefined) points.push([x, ySL(l.service_level), l.service_level]);
  });
  if (points.length) {
    svg.append(el('polyline', { points: points.map(([x, yy]) => `${x},${yy}`).join(' '), fill: 'none', stroke: '#1a7f37',
      'stroke-width': 2, 'data-testid': 'sl-line' }));
    for (const [x, yy, v] of points) {
      svg.append(el('circle', { cx: x, cy: yy, r: 3, fill: '#1a7f37', 'data-testid': 'sl-point', 'data-value': v }));
    }
  }
  return svg;
}

function formatTables() {
  for (const td of document.querySelectorAll('td[data-col="service_level"]')) td.textContent = percent(td.dataset.value);
  for (const td of document.querySelectorAll('td[data-col="asa"], td[data-col="aht"]')) td.textContent = duration(td.dataset.value);
}

function csvLink() {
  const a = document.getElementById('csv-link');
  if (!a) return;
  const q = new URLSearchParams(location.search);
  for (const [k, v] of [...q.entries()]) if (v === '') q.delete(k);
  q.set('format', 'csv');
  a.href = `/api/reports?${q}`;
}

function draw() {
  let groups = [];
  try {
    groups = JSON.parse(document.getElementById('report-data').textContent || '[]') || [];
  } catch {
    groups = [];
  }
  for (const fig of document.querySelectorAll('figure.chart')) {
    const g = groups[Number(fig.dataset.index)];
    if (!g) continue;
    fig.replaceChildren(chart(g));
    const legend = document.createElement('figcaption');
    legend.className = 'legend';
    legend.textContent = 'Bars: offered (incl. transfers in), answered. Line: service level.';
    fig.append(legend);
  }
  document.body.dataset.chartsDrawn = String(groups.length);
}

formatTables();
csvLink();
draw();
