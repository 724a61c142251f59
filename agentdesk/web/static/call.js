// The call panel of the agent console (issue 7): for a held voice contact
// with a call, the call's state in words, a timer computed from the
// server's timestamps (talk since answered_at, hold while held), Hold and
// Resume (call_control, an absolute state: the phone system says when it
// has happened, in a `call` frame), and notes that become the wrap-up note.
// Transfer is the console's own control under the panel. While the call is
// live the console offers no Close: the phone leg decides when a call is
// over, and its end starts the wrap-up (contact_closed, ended_by "call").
//
// It also keeps the observe-mode ring cards (call_ringing): the PBX rings
// the agent's extension; the card shows the caller and says to answer on
// the phone. There is nothing to accept here.
//
// Text from the server is only ever set as text (el). No phone numbers
// reach this module: the call frames carry none.
import { el, mmss } from './socket.js';
import { t } from './i18n.js';

const panels = new Map();  // contact id → { draw, tick, reply }
const ringing = new Map(); // contact id → { frame, card, timer }
const RING_CARD_MS = 60000; // a ring card nobody resolves goes after this
let seq = 0;

const stateWords = {
  menu: 'Caller in the menu',
  queued: 'Connecting to your phone…', // accepted; the connect is on its way
  connecting: 'Connecting to your phone…',
  ringing: 'Ringing your phone',
  talking: 'On call',
  held: 'On hold',
  ended: 'Call ended — wrap up',
};

const stateHints = {
  queued: 'The phone system is putting the caller through to you.',
  connecting: 'The phone system is putting the caller through to you.',
  ringing: 'Pick up your phone to talk to the caller.',
  held: 'The caller hears the hold music.',
};

const causeWords = {
  normal: 'hung up',
  abandoned: 'the caller hung up before an answer',
  busy: 'your phone was busy',
  no_answer: 'your phone did not answer',
  rejected: 'your phone declined the call',
  failed: 'the phone system could not connect the call',
  lost: 'the phone system lost track of the call',
};

const withdrawnWords = {
  phone_not_answered: 'Your phone did not answer; the call went back to the queue.',
  caller_hung_up: 'The caller hung up before the call reached you.',
  transferred: 'The phone system moved the call to someone else.',
};

// withdrawnText says in plain words why a call left the agent's workspace.
export function withdrawnText(reason) {
  return t(withdrawnWords[reason] || 'The call was taken off your workspace.');
}

// isLive: the call is still going on the phone (Close must not be offered).
export function isLive(call) {
  return !!call && call.state !== 'ended';
}

// setCall stores a call state on contact view v. When the server does not
// say since when a call is held (held_at), the moment this page learned it
// stands in for it: the hold timer then starts at the frame, not at 0 on
// every redraw.
export function setCall(v, call) {
  if (!call) return;
  const prev = v.call;
  const k = { ...call };
  if (k.state === 'held') {
    k.heldSince = k.held_at || (prev && prev.state === 'held' && prev.heldSince) || new Date().toISOString();
  }
  v.call = k;
}

function seconds(fromISO, toMS) {
  if (!fromISO) return 0;
  const from = Date.parse(fromISO);
  if (Number.isNaN(from)) return 0;
  return Math.max(0, (toMS - from) / 1000); // a clock a little ahead never shows negative time
}

// timerText is what the timer shows for call k at now (ms).
function timerText(k, now) {
  const heldBefore = k.hold_seconds || 0;
  switch (k.state) {
    case 'talking':
      return k.answered_at ? t('Talk {t}', { t: mmss(seconds(k.answered_at, now)) }) + (heldBefore >= 1 ? t(' · held {t} in all', { t: mmss(heldBefore) }) : '') : '';
    case 'held':
      return t('On hold {t}', { t: mmss(seconds(k.heldSince, now)) }) + (k.answered_at ? t(' · talk {t}', { t: mmss(seconds(k.answered_at, now)) }) : '');
    case 'ended': {
      if (!k.answered_at) return t('Not answered');
      const end = k.ended_at ? Date.parse(k.ended_at) : now;
      return t('Talk {t}', { t: mmss(seconds(k.answered_at, end)) }) + (heldBefore >= 1 ? t(' · held {t}', { t: mmss(heldBefore) }) : '');
    }
  }
  return '';
}

// callPanel returns the call panel for contact view v, or null when v has
// no call (a chat, an e-mail, a callback attempt without a connector
// call). send sends a frame (false when not connected); toast shows a
// message.
export function callPanel(v, send, toast) {
  if (!v.call) return null;
  const id = v.id;
  const stateText = el('strong', { class: 'call-state', 'data-testid': 'call-state' });
  const hint = el('span', { class: 'muted call-hint', 'data-testid': 'call-hint' });
  // Only the state is announced; the timer ticks silently (role timer).
  const status = el('p', { class: 'call-status', role: 'status', 'aria-live': 'polite' }, stateText, ' ', hint);
  const timer = el('span', { class: 'call-timer', role: 'timer', 'aria-label': t('Call time'), 'data-testid': 'call-timer' });
  const direction = el('span', { class: 'chan' });
  const flags = el('span', { class: 'call-flags muted', 'data-testid': 'call-flags' });
  const holdBtn = el('button', { type: 'button', class: 'call-hold', 'data-testid': 'call-hold' }, t('Hold'));
  const holdNote = el('span', { class: 'muted call-hold-note', 'data-testid': 'call-hold-note' });
  const notes = el('textarea', {
    class: 'call-notes', 'data-testid': 'call-notes', rows: 3, maxlength: 2000,
    'aria-label': t('Call notes (kept as the wrap-up note)'), placeholder: t('Notes (kept as the wrap-up note)'),
  });
  notes.value = draftNote(v);
  notes.addEventListener('input', () => saveNote(v, notes.value));

  let pending = null; // the state asked for and not yet acked
  let shownState = '';

  holdBtn.addEventListener('click', () => {
    const k = v.call;
    if (!k || (k.state !== 'talking' && k.state !== 'held')) return;
    const want = k.state === 'held' ? 'talking' : 'held';
    const ref = `call:${id}:${++seq}`;
    if (!send({ type: 'call_control', id: ref, contact_id: id, state: want })) {
      toast(t('Not connected; try again.'));
      return;
    }
    pending = want;
    draw();
  });

  function draw() {
    const k = v.call;
    if (shownState !== k.state) { // rewritten only on a change: a live region repeats what it is given
      stateText.textContent = t(stateWords[k.state] || k.state);
      hint.textContent = stateHints[k.state] ? t(stateHints[k.state]) : '';
      shownState = k.state;
    }
    direction.textContent = t(k.direction === 'outbound' ? 'outbound' : 'inbound');
    const f = [];
    if (k.transferred) f.push(t('Transferred'));
    if (k.recording) f.push(t('Recording available'));
    if (k.state === 'ended' && k.cause && causeWords[k.cause]) f.push(t('Ended: {cause}', { cause: t(causeWords[k.cause]) }));
    flags.textContent = f.join(' · ');
    const canHold = k.state === 'talking' || k.state === 'held';
    holdBtn.textContent = t(k.state === 'held' ? 'Resume' : 'Hold');
    holdBtn.setAttribute('aria-label', t(k.state === 'held' ? 'Resume the call' : 'Put the caller on hold'));
    holdBtn.disabled = !canHold || pending !== null || v.holdUnsupported === true;
    if (v.holdUnsupported) holdNote.textContent = t('Use your phone’s hold button: the phone system cannot hold calls from here.');
    else if (pending) holdNote.textContent = t(pending === 'held' ? 'Putting the caller on hold…' : 'Taking the caller off hold…');
    else holdNote.textContent = '';
    section.dataset.state = k.state;
    tick();
    // Close is the console's button; a live call has none (the server
    // would refuse it with call_live). The chat composer sends nothing on
    // a call.
    const work = v.work;
    if (work) {
      work.querySelector('[data-testid=close]')?.toggleAttribute('hidden', isLive(k));
      work.querySelector('.composer')?.setAttribute('hidden', '');
    }
  }

  function tick() {
    timer.textContent = timerText(v.call, Date.now());
  }

  // reply handles the ack or error of one of this panel's call_control frames.
  function reply(f, toast) {
    const asked = pending;
    pending = null;
    if (f.type === 'error') {
      if (f.code === 'not_supported') {
        v.holdUnsupported = true;
        toast(t('Your phone system cannot hold calls from here: use your phone’s hold button.'));
      } else if (f.code === 'not_live') {
        toast(t('The call is not live any more.'));
      } else {
        toast(f.message || f.code);
      }
    } else if (asked && v.call.state !== asked) {
      // Acked: the phone system has the command; its held or unheld
      // event will change the state.
      holdNote.textContent = t(asked === 'held' ? 'Asked the phone system to hold the call…' : 'Asked the phone system to resume the call…');
      holdBtn.disabled = false;
      return;
    }
    draw();
  }

  const section = el('section', { class: 'call', 'data-testid': 'call-panel', 'aria-label': t('Call') },
    el('h4', {}, t('Call '), direction),
    status,
    el('p', { class: 'call-time' }, timer, ' ', flags),
    el('div', { class: 'call-actions' }, holdBtn, holdNote),
    notes);
  panels.set(id, { draw, tick, reply });
  draw();
  // The console's controls exist once its panel is built around this one.
  queueMicrotask(() => panels.get(id)?.draw());
  return section;
}

// callFrame redraws v's call panel after setCall. It returns false when v
// has no call panel yet (the console then builds one).
export function callFrame(v) {
  const p = panels.get(v.id);
  if (!p) return false;
  p.draw();
  return true;
}

// callReply takes the ack or error of a call_control frame (ref
// "call:<contact>:<n>"); false when the frame is not one.
export function callReply(f, toast) {
  if (typeof f.ref !== 'string' || !f.ref.startsWith('call:')) return false;
  const p = panels.get(f.ref.split(':')[1]);
  if (p) p.reply(f, toast);
  else if (f.type === 'error') toast(f.message || f.code);
  return true;
}

// dropCall forgets a contact's call panel and its saved notes (the wrap-up
// is over).
export function dropCall(id) {
  panels.delete(id);
  try { sessionStorage.removeItem(noteKey(id)); } catch { /* storage unavailable */ }
}

// Notes survive a reload of the console while the call and its wrap-up
// last (sessionStorage: this tab only, gone with it).
function noteKey(id) { return 'sb-call-note:' + id; }

function saveNote(v, text) {
  v.draftNote = text;
  try { sessionStorage.setItem(noteKey(v.id), text); } catch { /* storage full or off: memory only */ }
}

// draftNote is the note typed in the call panel: the wrap-up step starts
// with it.
export function draftNote(v) {
  if (typeof v.draftNote === 'string') return v.draftNote;
  try { return sessionStorage.getItem(noteKey(v.id)) || ''; } catch { return ''; }
}

// callSummary is the ended call's line in the wrap-up step, or null.
export function callSummary(v) {
  const k = v.call;
  if (!k) return null;
  const bits = [timerText({ ...k, state: 'ended' }, Date.now())];
  if (k.recording) bits.push(t('Recording available'));
  if (k.transferred) bits.push(t('Transferred'));
  return el('p', { class: 'call-summary muted', 'data-testid': 'call-summary' }, bits.join(' · '));
}

// ---- observe mode: the PBX rings the agent's extension -----------------

// callRinging shows (or refreshes) the ring card of a call_ringing frame;
// redraw re-renders the offers area.
export function callRinging(f, redraw) {
  const old = ringing.get(f.contact_id);
  if (old) clearTimeout(old.timer);
  const r = { frame: f, card: null };
  r.timer = setTimeout(() => { if (ringing.get(f.contact_id) === r) { ringing.delete(f.contact_id); redraw(); } }, RING_CARD_MS);
  ringing.set(f.contact_id, r);
  redraw();
}

// dropRinging removes a contact's ring card; true when there was one.
export function dropRinging(id) {
  const r = ringing.get(id);
  if (!r) return false;
  clearTimeout(r.timer);
  ringing.delete(id);
  return true;
}

// ringingCards are the ring cards for the offers area; pop renders a
// screen-pop. A card is built once, so redrawing the offers keeps it.
export function ringingCards(pop) {
  return [...ringing.values()].map((r) => r.card || (r.card = ringCard(r.frame, pop)));
}

function ringCard(f, pop) {
  const c = f.contact || {};
  return el('article', { class: 'offer ringing', 'data-testid': 'call-ringing', 'data-contact': f.contact_id, 'aria-label': t('Your phone is ringing') },
    el('header', {},
      el('span', { class: 'chan' }, t('voice')),
      el('span', { class: 'queue' }, c.queue_name || ''),
      el('span', { class: 'ring-state' }, t('Your phone is ringing'))),
    f.screen_pop ? pop(f.screen_pop) : null,
    el('footer', {}, el('p', { class: 'answer-hint', 'data-testid': 'answer-on-phone' }, t('Answer on your phone'))));
}

setInterval(() => { for (const p of panels.values()) p.tick(); }, 1000);
