package ami

import (
	"context"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/channels/phone"
)

// Sink records call events. It is durable and idempotent by EventID: the
// tracker retries an event until Handle returns nil, so a repeat must be a
// no-op. cmd adapts phone.Hotline to it.
type Sink interface {
	Handle(ctx context.Context, ev phone.Event) error
}

// TrackerOptions tune how calls are read from events. Zero values take the
// defaults.
type TrackerOptions struct {
	// Directions maps the dialplan context a call's first channel starts
	// in to phone.Inbound or phone.Outbound ("from-internal": Outbound).
	Directions map[string]string
	// DefaultDirection for contexts not in Directions (phone.Inbound).
	DefaultDirection string
	// IsExtension reports whether a device's resource ("1001" of
	// PJSIP/1001-0000002a) is an agent's extension. Default: 2 to 10
	// digits. cmd can pass the set of configured agents' extensions.
	IsExtension func(ext string) bool
	// IdleTimeout: a call with no event for this long ends with
	// CauseLost (4 h). Ended calls are remembered as long, so late or
	// replayed events about them are ignored.
	IdleTimeout time.Duration
	// SweepInterval between idle sweeps (1 min).
	SweepInterval time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// MaxRetryWait caps the wait between retries of a failing Sink (30 s).
	MaxRetryWait time.Duration
}

func (o TrackerOptions) withDefaults() TrackerOptions {
	if o.DefaultDirection == "" {
		o.DefaultDirection = phone.Inbound
	}
	if o.IsExtension == nil {
		o.IsExtension = digits
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 4 * time.Hour
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = 30 * time.Second
	}
	return o
}

func digits(s string) bool {
	if len(s) < 2 || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Tracker follows calls, keyed by Linkedid (the Uniqueid of a call's first
// channel), and turns AMI events into phone.Events. Events are queued in
// order and delivered to the Sink by Run, retried until it accepts them.
type Tracker struct {
	sink Sink
	opt  TrackerOptions
	log  *slog.Logger

	mu     sync.Mutex
	seq    uint64 // events seen, for resync's "touched since"
	calls  map[string]*call
	ended  map[string]time.Time // Linkedid → when it ended
	outbox []phone.Event
	wake   chan struct{}
}

type call struct {
	id        string // Linkedid
	callerUID string
	callerCh  string
	direction string
	answered  bool // an agent leg answered
	queues    map[string]bool
	held      bool
	holds     int
	legs      map[string]*leg // by Uniqueid
	lastSeen  time.Time
	lastSeq   uint64
}

// leg is an agent's device channel in a call.
type leg struct {
	uid, channel, ext string
	offered, answered bool
	ended             bool
	lastSeq           uint64
}

// NewTracker returns a tracker reporting to sink.
func NewTracker(sink Sink, opt TrackerOptions, log *slog.Logger) *Tracker {
	return &Tracker{
		sink:  sink,
		opt:   opt.withDefaults(),
		log:   log,
		calls: map[string]*call{},
		ended: map[string]time.Time{},
		wake:  make(chan struct{}, 1),
	}
}

// Event applies one AMI event. It never blocks on the Sink.
func (t *Tracker) Event(m Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	t.apply(m)
}

// eventID is deterministic: the same AMI facts give the same id after a
// reconnect or a repeat, so the Sink records them once.
func eventID(callID, uid string, k phone.Kind, parts ...string) string {
	n := 4 + len(callID) + len(uid) + len(k)
	for _, p := range parts {
		n += 1 + len(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString("ami:")
	b.WriteString(callID)
	b.WriteByte('/')
	b.WriteString(uid)
	b.WriteByte('/')
	b.WriteString(string(k))
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(p)
	}
	return b.String()
}

func (t *Tracker) emit(c *call, ev phone.Event) {
	ev.CallID = c.id
	if ev.At.IsZero() {
		ev.At = t.opt.Now()
	}
	t.outbox = append(t.outbox, ev)
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// at is the event's own time when Asterisk stamps events (manager.conf
// timestampevents = yes), else the tracker's clock.
func (t *Tracker) at(m Message) time.Time {
	if ts := m.Get("Timestamp"); ts != "" {
		if f, err := strconv.ParseFloat(ts, 64); err == nil && f > 0 {
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
		}
	}
	return t.opt.Now()
}

// extension returns the agent extension of a device channel
// ("PJSIP/1001-0000002a" → "1001"), or false for trunks, Local channels
// and anything that is not an agent's phone.
func (t *Tracker) extension(channel string) (string, bool) {
	slash := strings.IndexByte(channel, '/')
	if slash <= 0 {
		return "", false
	}
	switch channel[:slash] {
	case "PJSIP", "SIP", "IAX2":
	default:
		return "", false
	}
	res := channel[slash+1:]
	if i := strings.LastIndexByte(res, '-'); i > 0 {
		res = res[:i]
	}
	return res, t.opt.IsExtension(res)
}

// interfaceExtension is extension for a queue member's Interface
// ("PJSIP/1001"), which has no channel suffix.
func (t *Tracker) interfaceExtension(iface string) (string, bool) {
	slash := strings.IndexByte(iface, '/')
	if slash <= 0 {
		return "", false
	}
	return t.extension(iface + "-x")
}

// get returns the open call of m's Linkedid. A call first seen in the
// middle (the client connected after it started) is adopted when m is
// about its first channel, which carries the caller's number.
func (t *Tracker) get(m Message, lid string) *call {
	if lid == "" {
		return nil
	}
	if _, gone := t.ended[lid]; gone {
		return nil
	}
	c := t.calls[lid]
	if c == nil && m.Get("Uniqueid") == lid && m.Get("Channel") != "" {
		c = t.start(m, lid)
	}
	if c != nil {
		c.lastSeen = t.opt.Now()
		c.lastSeq = t.seq
	}
	return c
}

// start opens a call from a message about its first channel and emits
// Ringing.
func (t *Tracker) start(m Message, lid string) *call {
	dir, ok := t.opt.Directions[m.Get("Context")]
	if !ok {
		dir = t.opt.DefaultDirection
	}
	c := &call{
		id: lid, callerUID: lid, callerCh: m.Get("Channel"), direction: dir,
		queues: map[string]bool{}, legs: map[string]*leg{},
		lastSeen: t.opt.Now(), lastSeq: t.seq,
	}
	t.calls[lid] = c
	t.emit(c, phone.Event{
		EventID: eventID(lid, lid, phone.Ringing), Kind: phone.Ringing, Direction: dir,
		From: m.Get("CallerIDNum"), To: m.Get("Exten"), At: t.at(m),
	})
	return c
}

func (t *Tracker) apply(m Message) {
	ev := m.Event()
	switch ev {
	case "Newchannel", "Newstate", "BridgeLeave", "AgentComplete", "NewCallerid", "NewConnectedLine":
		t.get(m, m.Get("Linkedid"))

	case "QueueCallerJoin":
		c := t.get(m, m.Get("Linkedid"))
		if c == nil {
			return
		}
		q := m.Get("Queue")
		if !c.queues[q] {
			c.queues[q] = true
			t.emit(c, phone.Event{EventID: eventID(c.id, m.Get("Uniqueid"), phone.Queued, q), Kind: phone.Queued, At: t.at(m)})
		}

	case "DialBegin":
		lid := m.Get("Linkedid")
		if lid == "" {
			lid = m.Get("DestLinkedid")
		}
		c := t.get(m, lid)
		if c == nil {
			return
		}
		if l := t.leg(c, m.Get("DestUniqueid"), m.Get("DestChannel"), ""); l != nil && !l.offered && !l.answered && !l.ended {
			l.offered = true
			t.emit(c, phone.Event{EventID: eventID(c.id, l.uid, phone.Offered, l.ext), Kind: phone.Offered, Extension: l.ext, At: t.at(m)})
		}

	case "DialEnd":
		lid := m.Get("Linkedid")
		if lid == "" {
			lid = m.Get("DestLinkedid")
		}
		c := t.get(m, lid)
		if c == nil {
			return
		}
		l := c.legs[m.Get("DestUniqueid")]
		if l == nil {
			return
		}
		switch status := m.Get("DialStatus"); status {
		case "ANSWER":
			t.answer(c, l, m)
		case "", "RINGING", "PROCEEDING", "PROGRESS":
		default:
			t.endLeg(c, l, dialCause(status), t.at(m))
		}

	case "BridgeEnter":
		c := t.get(m, m.Get("Linkedid"))
		if c == nil {
			return
		}
		if l := t.leg(c, m.Get("Uniqueid"), m.Get("Channel"), ""); l != nil {
			t.answer(c, l, m)
		}

	case "AgentConnect":
		c := t.get(m, m.Get("Linkedid"))
		if c == nil {
			return
		}
		ext, _ := t.interfaceExtension(m.Get("Interface"))
		if l := t.leg(c, m.Get("DestUniqueid"), m.Get("DestChannel"), ext); l != nil {
			t.answer(c, l, m)
		}

	case "Hold", "Unhold":
		c := t.get(m, m.Get("Linkedid"))
		if c == nil {
			return
		}
		uid, ext := m.Get("Uniqueid"), ""
		if l := c.legs[uid]; l != nil {
			ext = l.ext
		}
		if ev == "Hold" && !c.held {
			c.held = true
			c.holds++
			t.emit(c, phone.Event{EventID: eventID(c.id, uid, phone.Held, ext, strconv.Itoa(c.holds)), Kind: phone.Held, Extension: ext, At: t.at(m)})
		} else if ev == "Unhold" && c.held {
			c.held = false
			t.emit(c, phone.Event{EventID: eventID(c.id, uid, phone.Unheld, ext, strconv.Itoa(c.holds)), Kind: phone.Unheld, Extension: ext, At: t.at(m)})
		}

	case "BlindTransfer":
		if m.Get("Result") != "Success" {
			return
		}
		lid := m.Get("TransfereeLinkedid")
		if lid == "" {
			lid = m.Get("TransfererLinkedid")
		}
		c := t.get(m, lid)
		if c == nil {
			return
		}
		target := m.Get("Extension")
		t.transferred(c, m, m.Get("TransfererUniqueid"), m.Get("TransfererChannel"), target)

	case "AttendedTransfer":
		if m.Get("Result") != "Success" {
			return
		}
		c := t.get(m, m.Get("OrigTransfererLinkedid"))
		if c == nil {
			c = t.get(m, m.Get("TransfereeLinkedid"))
		}
		if c == nil {
			return
		}
		target, ok := t.extension(m.Get("TransferTargetChannel"))
		if !ok {
			target = m.Get("SecondTransfererConnectedLineNum")
		}
		t.transferred(c, m, m.Get("OrigTransfererUniqueid"), m.Get("OrigTransfererChannel"), target)

	case "QueueCallerAbandon":
		if c := t.get(m, m.Get("Linkedid")); c != nil {
			t.end(c, phone.CauseAbandoned, t.at(m))
		}

	case "Hangup":
		c := t.get(m, m.Get("Linkedid"))
		if c == nil {
			return
		}
		uid := m.Get("Uniqueid")
		if uid == c.callerUID {
			cause := q850(m.Get("Cause"))
			if c.direction != phone.Outbound && !c.answered {
				cause = phone.CauseAbandoned
			}
			t.end(c, cause, t.at(m))
			return
		}
		if l := c.legs[uid]; l != nil {
			cause := q850(m.Get("Cause"))
			if l.answered && cause == phone.CauseFailed {
				cause = phone.CauseNormal // a talked leg's odd code is still a hang-up
			} else if !l.answered && cause == phone.CauseNormal {
				cause = phone.CauseNoAnswer
			}
			t.endLeg(c, l, cause, t.at(m))
		}
	}
}

// leg returns the agent leg uid of c, creating it for an agent's device;
// nil for channels that are not agents' phones (the caller, trunks).
func (t *Tracker) leg(c *call, uid, channel, ext string) *leg {
	if uid == "" || uid == c.callerUID {
		return nil
	}
	if l := c.legs[uid]; l != nil {
		l.lastSeq = t.seq
		return l
	}
	if e, ok := t.extension(channel); ok {
		ext = e
	}
	if ext == "" {
		return nil
	}
	l := &leg{uid: uid, channel: channel, ext: ext, lastSeq: t.seq}
	c.legs[uid] = l
	return l
}

func (t *Tracker) answer(c *call, l *leg, m Message) {
	if l.answered || l.ended {
		return
	}
	l.answered = true
	c.answered = true
	t.emit(c, phone.Event{EventID: eventID(c.id, l.uid, phone.Answered, l.ext), Kind: phone.Answered, Extension: l.ext, At: t.at(m)})
}

func (t *Tracker) transferred(c *call, m Message, uid, channel, target string) {
	ext, _ := t.extension(channel)
	if l := c.legs[uid]; l != nil {
		ext = l.ext
	}
	t.emit(c, phone.Event{EventID: eventID(c.id, uid, phone.Transferred, target), Kind: phone.Transferred, Extension: ext, Target: target, At: t.at(m)})
}

func (t *Tracker) endLeg(c *call, l *leg, cause phone.Cause, at time.Time) {
	if l.ended {
		return
	}
	l.ended = true
	t.emit(c, phone.Event{EventID: eventID(c.id, l.uid, phone.Ended, l.ext), Kind: phone.Ended, Extension: l.ext, Cause: cause, At: at})
}

// end ends every open leg, then the call.
func (t *Tracker) end(c *call, cause phone.Cause, at time.Time) {
	for _, l := range sortedLegs(c) {
		lc := cause
		switch {
		case cause == phone.CauseLost:
		case l.answered:
			lc = phone.CauseNormal
		default:
			lc = phone.CauseAbandoned // the caller left while it rang
		}
		t.endLeg(c, l, lc, at)
	}
	t.emit(c, phone.Event{EventID: eventID(c.id, c.callerUID, phone.Ended), Kind: phone.Ended, Cause: cause, At: at})
	delete(t.calls, c.id)
	t.ended[c.id] = t.opt.Now()
}

// sortedLegs in the order of their Uniqueids, so ends come out the same
// on every run.
func sortedLegs(c *call) []*leg {
	ls := make([]*leg, 0, len(c.legs))
	for _, l := range c.legs {
		if !l.ended {
			ls = append(ls, l)
		}
	}
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].uid < ls[j-1].uid; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	return ls
}

// q850 maps a Hangup's Cause.
func q850(code string) phone.Cause {
	switch code {
	case "16":
		return phone.CauseNormal
	case "17":
		return phone.CauseBusy
	case "18", "19":
		return phone.CauseNoAnswer
	case "21":
		return phone.CauseRejected
	}
	return phone.CauseFailed
}

// dialCause maps a DialEnd's DialStatus. CANCEL means the calling side
// stopped the ringing (the caller hung up, another member answered, or
// Cancel hung it up), not that the agent failed to answer: abandoned, so
// the agent is not charged a missed offer.
func dialCause(status string) phone.Cause {
	switch status {
	case "CANCEL":
		return phone.CauseAbandoned
	case "NOANSWER":
		return phone.CauseNoAnswer
	case "BUSY":
		return phone.CauseBusy
	}
	return phone.CauseFailed // CHANUNAVAIL, CONGESTION, anything else
}

// Lister runs an event-list action (the Client).
type Lister interface {
	ActionList(ctx context.Context, a Message, complete string) ([]Message, error)
}

// Resync asks Asterisk which channels exist (CoreShowChannels) after a
// (re)connect: open calls no longer listed end with CauseLost, listed
// calls the tracker does not know are adopted.
func (t *Tracker) Resync(ctx context.Context, l Lister) error {
	t.mu.Lock()
	since := t.seq
	t.mu.Unlock()
	list, err := l.ActionList(ctx, Act("CoreShowChannels"), "CoreShowChannelsComplete")
	if err != nil {
		return err
	}
	t.Channels(since, list)
	return nil
}

// Channels applies a CoreShowChannels list asked for when the tracker had
// seen since events. Calls and legs with events after that are left alone:
// the list may predate them.
func (t *Tracker) Channels(since uint64, list []Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opt.Now()
	byCall := map[string][]Message{}
	var order []string
	for _, m := range list {
		lid := m.Get("Linkedid")
		if lid == "" {
			lid = m.Get("Uniqueid")
		}
		if lid == "" {
			continue
		}
		if _, ok := byCall[lid]; !ok {
			order = append(order, lid)
		}
		byCall[lid] = append(byCall[lid], m)
	}
	for _, id := range t.sortedCalls() {
		c := t.calls[id]
		chans, listed := byCall[id]
		if !listed {
			if c.lastSeq <= since {
				t.log.Info("ami call gone after resync", "call_id", id)
				t.end(c, phone.CauseLost, now)
			}
			continue
		}
		up := map[string]bool{}
		for _, m := range chans {
			up[m.Get("Uniqueid")] = true
		}
		for _, l := range sortedLegs(c) {
			if !up[l.uid] && l.lastSeq <= since {
				t.endLeg(c, l, phone.CauseLost, now)
			}
		}
	}
	for _, id := range order {
		if _, known := t.calls[id]; known {
			continue
		}
		if _, gone := t.ended[id]; gone {
			continue
		}
		chans := byCall[id]
		first := chans[0]
		for _, m := range chans {
			if m.Get("Uniqueid") == id {
				first = m
			}
		}
		t.log.Info("ami call adopted after resync", "call_id", id)
		c := t.start(first, id)
		for _, m := range chans {
			uid := m.Get("Uniqueid")
			l := t.leg(c, uid, m.Get("Channel"), "")
			if l == nil {
				continue
			}
			switch m.Get("ChannelState") {
			case "6": // Up
				t.answer(c, l, Message{})
			case "5": // Ringing
				l.offered = true
				t.emit(c, phone.Event{EventID: eventID(c.id, l.uid, phone.Offered, l.ext), Kind: phone.Offered, Extension: l.ext})
			}
		}
	}
}

func (t *Tracker) sortedCalls() []string {
	ids := make([]string, 0, len(t.calls))
	for id := range t.calls {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

// Sweep ends calls without an event for IdleTimeout (CauseLost) and
// forgets calls that ended longer ago than that.
func (t *Tracker) Sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opt.Now()
	for _, id := range t.sortedCalls() {
		if c := t.calls[id]; now.Sub(c.lastSeen) >= t.opt.IdleTimeout {
			t.log.Info("ami call idle, ended as lost", "call_id", id)
			t.end(c, phone.CauseLost, now)
		}
	}
	for id, at := range t.ended {
		if now.Sub(at) >= t.opt.IdleTimeout {
			delete(t.ended, id)
		}
	}
}

// CallerChannel is the channel of the call's caller ("PJSIP/trunk-00000007").
func (t *Tracker) CallerChannel(callID string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[callID]
	if c == nil || c.callerCh == "" {
		return "", false
	}
	return c.callerCh, true
}

// RingingChannel is the channel ringing at ext in the call, if one is.
func (t *Tracker) RingingChannel(callID, ext string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[callID]
	if c == nil {
		return "", false
	}
	for _, l := range sortedLegs(c) {
		if l.ext == ext && l.offered && !l.answered {
			return l.channel, true
		}
	}
	return "", false
}

// Pending is how many events wait for the Sink.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.outbox)
}

// Run delivers queued events to the Sink in order, retrying each with
// backoff until it is accepted, and sweeps idle calls. Events still queued
// when ctx ends are dropped; after a restart, Resync adopts live calls
// again under the same EventIDs.
func (t *Tracker) Run(ctx context.Context) error {
	sweep := time.NewTicker(t.opt.SweepInterval)
	defer sweep.Stop()
	for {
		t.mu.Lock()
		var ev phone.Event
		have := len(t.outbox) > 0
		if have {
			ev = t.outbox[0]
		}
		t.mu.Unlock()
		if !have {
			select {
			case <-ctx.Done():
				return nil
			case <-t.wake:
			case <-sweep.C:
				t.Sweep()
			}
			continue
		}
		if !t.deliver(ctx, ev) {
			return nil
		}
		t.mu.Lock()
		t.outbox[0] = phone.Event{}
		t.outbox = t.outbox[1:]
		t.mu.Unlock()
		select {
		case <-sweep.C:
			t.Sweep()
		default:
		}
	}
}

// deliver hands ev to the Sink until it takes it; false if ctx ended.
func (t *Tracker) deliver(ctx context.Context, ev phone.Event) bool {
	wait := 100 * time.Millisecond
	for {
		err := t.sink.Handle(ctx, ev)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d := wait/2 + mrand.N(wait/2+1)
		t.log.WarnContext(ctx, "ami call event not recorded, retrying", "call_id", ev.CallID, "event_id", ev.EventID, "kind", string(ev.Kind), "error", err, "retry_in", d)
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return false
		case <-tm.C:
		}
		wait = min(wait*2, t.opt.MaxRetryWait)
	}
}
