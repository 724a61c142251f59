// Search from anywhere (issue 8): the box in the console's bar finds
// customers as the agent types (debounced) by name (Chinese, pinyin,
// initials, Latin), phone in any format, e-mail, plate, VIN or order
// number, through GET /api/search. "/" focuses it from anywhere outside a
// text field; the results are an ARIA combobox listbox: ↑/↓ move, Enter
// opens the customer 360, Esc closes the list (and clears the box on a
// second press). What the agent typed is personal data: it goes to the
// server in the query only and is never kept.
import { el } from './socket.js';
import { t } from './i18n.js';
import { openCustomer } from './customer.js';

const input = document.getElementById('search');
const list = document.getElementById('search-results');
const DEBOUNCE_MS = 250;
const PAGE = 8;

let timer = 0;
let seq = 0;          // the latest request; older answers are dropped
let inflight = null;  // its AbortController
let hits = [];        // [{id, name, tier, match}]
let next = '';        // next_cursor of the last page
let query = '';       // the query the hits are for
let active = -1;      // the highlighted option

// worthSearching: two characters, or one Chinese one (a surname).
function worthSearching(q) {
  return q.length >= 2 || /[\u3400-\u9fff]/.test(q);
}

function setOpen(open) {
  list.hidden = !open;
  input.setAttribute('aria-expanded', open ? 'true' : 'false');
  if (!open) { active = -1; input.removeAttribute('aria-activedescendant'); }
}

function note(text, cls) {
  list.replaceChildren(el('li', { class: 'search-note ' + (cls || ''), role: 'presentation', 'data-testid': 'search-note' }, text));
  setOpen(true);
}

function draw() {
  const items = hits.map((h, i) => el('li', {
    id: 'search-opt-' + i, role: 'option', class: 'search-hit', 'data-testid': 'search-hit', 'data-customer': h.id,
    'aria-selected': i === active ? 'true' : 'false',
    onmousedown: (ev) => ev.preventDefault(), // keep the focus in the box
    onclick: () => choose(i),
  }, el('span', { class: 'search-name' }, h.name || t('Unnamed customer')),
  h.tier ? el('span', { class: 'tier tier-' + h.tier }, t(h.tier)) : null,
  h.match ? el('span', { class: 'muted search-match' }, t('match: {m}', { m: t(h.match) })) : null));
  if (next) {
    items.push(el('li', {
      id: 'search-opt-more', role: 'option', class: 'search-more', 'data-testid': 'search-more',
      'aria-selected': active === hits.length ? 'true' : 'false',
      onmousedown: (ev) => ev.preventDefault(), onclick: () => more(),
    }, t('More results')));
  }
  list.replaceChildren(...items);
  list.setAttribute('aria-label', t('{n} results', { n: hits.length }));
  if (active >= 0) input.setAttribute('aria-activedescendant', active < hits.length ? 'search-opt-' + active : 'search-opt-more');
  else input.removeAttribute('aria-activedescendant');
  setOpen(true);
  list.querySelector('[aria-selected=true]')?.scrollIntoView({ block: 'nearest' });
}

async function fetchPage(q, cursor) {
  if (inflight) inflight.abort();
  const ctl = new AbortController();
  inflight = ctl;
  const my = ++seq;
  const url = `/api/search?q=${encodeURIComponent(q)}&limit=${PAGE}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : '');
  const res = await fetch(url, { credentials: 'same-origin', signal: ctl.signal });
  if (my !== seq) return null;
  if (!res.ok) throw new Error(String(res.status));
  const page = await res.json();
  return my === seq ? page : null;
}

async function run(q) {
  query = q;
  note(t('Searching…'), 'muted');
  try {
    const page = await fetchPage(q, '');
    if (!page) return;
    hits = page.hits || [];
    next = page.next_cursor || '';
    active = hits.length ? 0 : -1;
    if (!hits.length) { note(t('No customer found.'), 'muted'); return; }
    draw();
  } catch (e) {
    if (e.name !== 'AbortError') note(t('Search failed.'), 'error');
  }
}

async function more() {
  if (!next) return;
  try {
    const page = await fetchPage(query, next);
    if (!page) return;
    const first = hits.length;
    hits = hits.concat(page.hits || []);
    next = page.next_cursor || '';
    active = Math.min(first, hits.length - 1);
    draw();
  } catch (e) {
    if (e.name !== 'AbortError') note(t('Search failed.'), 'error');
  }
}

function choose(i) {
  if (i === hits.length && next) { more(); return; }
  const h = hits[i];
  if (!h) return;
  setOpen(false);
  openCustomer(h.id, input);
}

if (input && list) {
  input.addEventListener('input', () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!worthSearching(q)) {
      seq++; // an answer still on its way is no longer wanted
      hits = []; next = '';
      setOpen(false);
      return;
    }
    timer = setTimeout(() => run(q), DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (ev) => {
    const count = hits.length + (next ? 1 : 0);
    switch (ev.key) {
      case 'ArrowDown':
        if (!count) return;
        ev.preventDefault();
        active = list.hidden ? Math.max(active, 0) : (active + 1) % count;
        draw();
        break;
      case 'ArrowUp':
        if (!count) return;
        ev.preventDefault();
        active = active <= 0 ? count - 1 : active - 1;
        draw();
        break;
      case 'Enter': {
        ev.preventDefault();
        const q = input.value.trim();
        // Enter before the debounce fired searches at once.
        if (q !== query && worthSearching(q)) { clearTimeout(timer); run(q); return; }
        if (!list.hidden && active >= 0) choose(active);
        break;
      }
      case 'Escape':
        ev.preventDefault();
        if (!list.hidden) setOpen(false);
        else { input.value = ''; hits = []; next = ''; query = ''; }
        break;
    }
  });
  input.addEventListener('focus', () => { if (hits.length && input.value.trim() === query) draw(); });
  input.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== input) setOpen(false); }, 150));

  // "/" from anywhere that is not a place to type.
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tg = ev.target;
    if (tg.closest && (tg.closest('input, textarea, select, [contenteditable=""], [contenteditable=true]') || tg.isContentEditable)) return;
    ev.preventDefault();
    input.focus();
    input.select();
  });
}
