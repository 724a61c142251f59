// Callback attempts in the agent console: for a held contact that is a
// callback (its frame carries "callback"), the number to dial, which
// attempt this is, and the outcome buttons. An outcome closes the contact
// on the server, which then sends the usual contact_closed frame; this
// module only reports the outcome and shows refusals.
import { el, fmtDate } from './socket.js';
import { t } from './i18n.js';

const outcomes = [
  ['reached', 'Reached'],
  ['no_answer', 'No answer'],
  ['busy', 'Busy'],
  ['wrong_number', 'Wrong number'],
];

// callbackPanel returns the panel for contact view v, or null when v is no
// callback attempt. csrf is the page's token; onError shows a message.
export function callbackPanel(v, csrf, onError) {
  const cb = v.callback;
  if (!cb) return null;
  const status = el('span', { class: 'muted', 'data-testid': 'callback-status', role: 'status' });
  const buttons = outcomes.map(([outcome, label]) => el('button', {
    'data-testid': 'callback-' + outcome,
    'data-outcome': outcome,
    onclick: () => report(v.id, outcome, csrf, buttons, status, onError),
  }, t(label)));
  const dialStatus = el('span', { class: 'muted', 'data-testid': 'dial-status', role: 'status' });
  const dial = el('button', {
    'data-testid': 'callback-dial',
    title: t('Your phone rings first, then the customer\'s'),
    onclick: () => callNow(v.id, csrf, dial, dialStatus, onError),
  }, t('Call now'));
  return el('section', { class: 'callback', 'data-testid': 'callback' },
    el('h4', {}, t('Callback')),
    el('p', {}, dial, t(' or dial '), el('a', { href: 'tel:' + cb.phone, 'data-testid': 'callback-phone' }, cb.phone), ' ', dialStatus),
    el('p', { class: 'muted', 'data-testid': 'callback-attempts' },
      t('Attempt {n} of {max}', { n: cb.attempts, max: cb.max_attempts }),
      cb.last_outcome ? t(' · last: {outcome}', { outcome: t(cb.last_outcome) }) : '',
      t(' · until {date}', { date: fmtDate(cb.deadline) })),
    el('div', { class: 'callback-outcomes' }, buttons, status));
}

async function report(contactID, outcome, csrf, buttons, status, onError) {
  for (const b of buttons) b.disabled = true;
  status.textContent = t('Saving…');
  try {
    const res = await fetch(`/api/contacts/${encodeURIComponent(contactID)}/callback-outcome`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ outcome }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.message || `status ${res.status}`);
    }
    status.textContent = t('Saved.');
  } catch (e) {
    status.textContent = '';
    for (const b of buttons) b.disabled = false;
    onError(t('Could not save the callback outcome: {error}', { error: e.message }));
  }
}

// callNow asks the server to place the call through the agent's phone
// (click-to-call). Where the phone system cannot, the agent dials by hand.
async function callNow(contactID, csrf, button, status, onError) {
  button.disabled = true;
  status.textContent = t('Calling your phone…');
  try {
    const res = await fetch(`/api/contacts/${encodeURIComponent(contactID)}/dial`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf },
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.message || `status ${res.status}`);
    }
    status.textContent = t('Answer your phone; the customer is called next.');
  } catch (e) {
    status.textContent = '';
    button.disabled = false;
    onError(t('Could not place the call: {error}', { error: e.message }));
  }
}
