package agentdesk

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
	"github.com/switchboard-cc/switchboard/stats"
)

// Notifier turns routing's decisions into console and wallboard frames. It
// implements dispatch.Notifier; its calls for one tenant arrive in order.
type Notifier struct{ s *Server }

// Notifier returns the server's routing notifier.
func (s *Server) Notifier() *Notifier { return &Notifier{s: s} }

// Offered sends the offer at once, from what routing knows, and then the
// screen-pop as a second frame with the same offer id: the agent's card
// appears without waiting for the customer's history, then fills in.
func (n *Notifier) Offered(ctx context.Context, tenant uuid.UUID, o routing.Offer) {
	s := n.s
	t := o.Task
	s.publishUser(ctx, tenant, o.AgentID, frame{
		"type": "offer", "offer_id": o.ID, "expires_at": o.ExpiresAt.UTC(), "reason": o.Reason,
		"contact": frame{"id": t.ContactID, "channel": t.Channel, "queue_id": t.QueueID, "state": "queued", "arrived_at": t.ArrivedAt.UTC()},
	})
	s.metrics.offers.WithLabelValues("offered").Inc()
	// Routing's notes go out one at a time, in order: the screen-pop's reads
	// and the statistics event must not hold up the next contact's offer.
	// The screen-pop may now arrive after the offer was taken or withdrawn;
	// the console drops one for an offer it no longer shows.
	n.offNotes(func() {
		n.screenPop(ctx, tenant, o)
		n.record(ctx, tenant, o, "offered", nil)
	})
}

// screenPop sends the offered contact and its screen-pop. The two reads are
// independent, so they run side by side. If they fail the offer stands: the
// agent may accept it, and the assigned frame carries the screen-pop again.
func (n *Notifier) screenPop(ctx context.Context, tenant uuid.UUID, o routing.Offer) {
	s := n.s
	contact := o.Task.ContactID
	var (
		pop    crm.ScreenPop
		popErr error
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		pop, popErr = s.contacts.ScreenPopFor(ctx, tenant, contact, o.AgentID)
	}()
	ct, err := s.contacts.Contact(ctx, tenant, contact)
	<-done
	viewContact(pop, &ct, nil)
	if err = errors.Join(err, popErr); err != nil {
		s.log.Error("offer: screen-pop", "tenant_id", tenant, "contact_id", contact, "err", err)
		s.publishUser(ctx, tenant, o.AgentID, frame{"type": "screen_pop", "offer_id": o.ID, "contact_id": contact, "error": "unavailable"})
		return
	}
	s.publishUser(ctx, tenant, o.AgentID, frame{
		"type": "screen_pop", "offer_id": o.ID, "contact_id": contact, "contact": ct, "screen_pop": pop,
	})
}

// Rescinded withdraws an offer from the agent's console.
func (n *Notifier) Rescinded(ctx context.Context, tenant uuid.UUID, o routing.Offer, reason string) {
	n.s.publishUser(ctx, tenant, o.AgentID, frame{
		"type": "offer_rescinded", "offer_id": o.ID, "contact_id": o.Task.ContactID, "reason": reason,
	})
	n.s.metrics.offers.WithLabelValues(reason).Inc()
	switch reason {
	case "timeout":
		n.record(ctx, tenant, o, "offer_timeout", nil)
	case "rejected":
		n.record(ctx, tenant, o, "offer_rejected", nil)
	}
}

// OffersReset tells a console that every offer it shows is void (the routing
// engine was rebuilt, on this node or another).
func (n *Notifier) OffersReset(ctx context.Context, tenant, agent uuid.UUID) {
	n.s.publishUser(ctx, tenant, agent, frame{"type": "offers_reset"})
}

// Assigned gives the agent the contact and tells the customer's side.
//
// It stays on the ordered notes, unlike the offer's screen-pop: the console
// must see "assigned" before anything else said about the contact (its
// close, its wrap-up), which arrive by other paths.
func (n *Notifier) Assigned(ctx context.Context, tenant uuid.UUID, o routing.Offer) {
	n.assigned(ctx, tenant, o)
}

// offNotes runs fn beside routing's ordered notes, a bounded number at a
// time; Drain waits for them.
func (n *Notifier) offNotes(fn func()) {
	s := n.s
	s.pops <- struct{}{}
	s.popsRunning.Add(1)
	go func() {
		defer func() { <-s.pops; s.popsRunning.Done() }()
		fn()
	}()
}

func (n *Notifier) assigned(ctx context.Context, tenant uuid.UUID, o routing.Offer) {
	s := n.s
	item, err := s.contactFrame(ctx, tenant, o.AgentID, o.Task.ContactID)
	if err != nil {
		s.log.Error("assigned: load contact", "tenant_id", tenant, "contact_id", o.Task.ContactID, "err", err)
		// The console's next snapshot shows it; ask for one.
		s.publishUser(ctx, tenant, o.AgentID, frame{"type": "error", "code": "internal", "message": "accepted, but loading the contact failed; reconnect"})
		return
	}
	item["type"], item["offer_id"] = "assigned", o.ID
	s.publishUser(ctx, tenant, o.AgentID, item)
	s.metrics.offers.WithLabelValues("accepted").Inc()
	name := ""
	if a, err := s.accounts.Agent(ctx, tenant, o.AgentID); err == nil {
		name = a.Name
	}
	s.convs.Announce(ctx, tenant, o.Task.ContactID, "active", name)
	if o.Task.Channel == org.Voice && s.voice != nil {
		// The caller waits at the telephony: bridge them to the agent's
		// phone now, beside the ordered notes (it is a network call). The
		// phone channel's sweep connects it if this node dies first.
		n.offNotes(func() {
			if err := s.voice.Connect(s.life, tenant, o.Task.ContactID, o.AgentID, o.ID.String()); err != nil {
				s.log.Error("connect accepted call", "tenant_id", tenant, "contact_id", o.Task.ContactID, "err", err)
			}
		})
	}
}

// AcceptFailed answers an accept or reject that could not be honoured.
func (n *Notifier) AcceptFailed(ctx context.Context, tenant, agent, offer uuid.UUID, reason string) {
	msg := "the offer has expired or was taken"
	if reason == "internal" {
		msg = "accepting failed; the contact is back in the queue"
	}
	n.s.publishUser(ctx, tenant, agent, frame{"type": "error", "code": reason, "offer_id": offer, "message": msg})
}

// PresenceForced shows every console of the agent the presence routing set.
func (n *Notifier) PresenceForced(ctx context.Context, tenant, agent uuid.UUID, p org.Presence, reason string) {
	n.s.publishUser(ctx, tenant, agent, frame{"type": "presence", "state": p, "reason": reason})
}

// Requeued tells the customer's side that the chat waits for an agent again.
func (n *Notifier) Requeued(ctx context.Context, tenant, contact uuid.UUID) {
	n.s.convs.Announce(ctx, tenant, contact, "queued", "")
}

// WrapUpEnded tells the agent's consoles that the wrap-up time of a closed
// contact ran out: its card closes by itself.
func (n *Notifier) WrapUpEnded(ctx context.Context, tenant, agent, contact uuid.UUID) {
	n.s.publishUser(ctx, tenant, agent, frame{"type": "wrap_up_ended", "contact_id": contact, "reason": "timeout"})
}

// Gauges stores the tenant's newest gauges for new wallboards, keeps the
// minute's sample for the sparklines, and pushes them to the open ones.
func (n *Notifier) Gauges(ctx context.Context, tenant uuid.UUID, g routing.Gauges, today dispatch.Today) {
	s := n.s
	wg := wallboardGauges(g, today, s.thresholds(ctx, tenant))
	if s.callbacks != nil {
		// One indexed count a second per tenant, on routing's notes: a
		// short timeout keeps a slow database from holding up offers.
		qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		owed, err := s.callbacks.Unreturned(qctx, tenant)
		cancel()
		if err != nil {
			s.log.Warn("wallboard: unreturned callbacks", "tenant_id", tenant, "err", err)
		}
		for i := range wg.Queues {
			wg.Queues[i].Unreturned = owed[wg.Queues[i].ID]
		}
	}
	b, err := json.Marshal(wg)
	if err != nil {
		return
	}
	// The last gauges and the minute's sample in one round trip.
	pipe := s.bus.Redis().Pipeline()
	pipe.Set(ctx, s.bus.Key("wallboard", tenant.String(), "last"), b, 24*time.Hour)
	if slot, sample, err := sampleOf(wg); err == nil {
		hk := historyKey(s, tenant)
		pipe.HSet(ctx, hk, slot, sample)
		pipe.Expire(ctx, hk, 2*historyMinutes*time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.log.Warn("wallboard: store gauges", "tenant_id", tenant, "err", err)
	}
	msg := append(append([]byte(`{"type":"gauges","gauges":`), b...), '}')
	if err := s.bus.Publish(ctx, WallboardTopic(tenant), msg); err != nil {
		s.log.Warn("wallboard: publish gauges", "tenant_id", tenant, "err", err)
	}
}

// record writes a statistics event. It is asynchronous to routing by design
// (offers are not durable facts), so a failure is only logged.
func (n *Notifier) record(ctx context.Context, tenant uuid.UUID, o routing.Offer, kind string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["offer_id"] = o.ID
	if err := n.s.contacts.RecordEvent(ctx, tenant, o.Task.ContactID, kind, o.Task.QueueID, o.AgentID, data); err != nil {
		n.s.log.Warn("record contact event", "tenant_id", tenant, "contact_id", o.Task.ContactID, "kind", kind, "err", err)
	}
}

type queueGauge struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Waiting     int       `json:"waiting"`
	LongestWait int       `json:"longest_wait_seconds"`
	Offered     int       `json:"offered"`
	Today       todayJSON `json:"today"`
	// Unreturned: missed calls (and other missed contacts) owed a callback
	// that nobody has made yet.
	Unreturned int `json:"unreturned"`
	// Available: agents available and connected with the queue's skills,
	// busy or not: the staff set beside Erlang's agents needed.
	Available  int            `json:"available"`
	Erlang     erlangJSON     `json:"erlang"`
	Thresholds thresholdsJSON `json:"thresholds"`
}

// erlangJSON is Erlang C's answer for a queue and the inputs it was given,
// so that a reader can check it: the arrival rate over the last half hour
// (or since midnight, just after it, but never under
// stats.MinArrivalWindow), today's AHT, the queue's threshold
// and the supervisors' goal. AgentsNeeded is null before anything was
// handled today (no AHT) while contacts arrive, and when the load is
// beyond computing; 0 with no arrivals.
type erlangJSON struct {
	Arrivals      int      `json:"arrivals"`
	WindowSeconds float64  `json:"window_seconds"`
	PerHour       float64  `json:"arrivals_per_hour"`
	AHTSeconds    *float64 `json:"aht_seconds"`
	TargetSeconds float64  `json:"target_seconds"`
	Goal          float64  `json:"goal"`
	AgentsNeeded  *int     `json:"agents_needed"`
}

func erlangFigures(r stats.Rate, c stats.Counts, sla time.Duration, goal float64) erlangJSON {
	r.Over = max(r.Over, stats.MinArrivalWindow)
	e := erlangJSON{Arrivals: r.N, WindowSeconds: r.Over.Seconds(), PerHour: r.PerSecond() * 3600,
		TargetSeconds: sla.Seconds(), Goal: goal}
	if c.Handled > 0 {
		v := c.AHT().Seconds()
		e.AHTSeconds = &v
	}
	switch {
	case r.PerSecond() == 0:
		zero := 0
		e.AgentsNeeded = &zero
	case c.Handled > 0:
		if n := stats.AgentsNeeded(r.PerSecond(), c.AHT(), sla, goal); n >= 0 {
			e.AgentsNeeded = &n
		}
	}
	return e
}

// todayJSON is a queue's figures since local midnight. The service level
// names its definition and threshold; null figures mean nothing to count yet.
type todayJSON struct {
	Offered       int      `json:"offered"`
	Answered      int      `json:"answered"`
	Abandoned     int      `json:"abandoned"`
	ShortAbandons int      `json:"short_abandons"`
	TransfersIn   int      `json:"transferred_in"`
	TransfersOut  int      `json:"transferred_out"`
	ServiceLevel  *float64 `json:"service_level"`
	SLDefinition  string   `json:"sl_definition"`
	SLSeconds     int      `json:"sl_seconds"`
	ASASeconds    *float64 `json:"asa_seconds"`
	AHTSeconds    *float64 `json:"aht_seconds"` // talk + hold + wrap-up
	WrapUpSeconds *float64 `json:"avg_wrap_up_seconds"`
	AbandonRate   *float64 `json:"abandon_rate"`
}

// wallboardSL is the service-level definition the wallboard shows.
const wallboardSL = stats.OfOffered

func todayFigures(c stats.Counts, sla time.Duration) todayJSON {
	t := todayJSON{Offered: c.Offered, Answered: c.Answered, Abandoned: c.Abandoned, ShortAbandons: c.ShortAbandons,
		TransfersIn: c.TransferredIn, TransfersOut: c.TransferredOut,
		SLDefinition: string(wallboardSL), SLSeconds: int(sla / time.Second)}
	if v, ok := c.ServiceLevel(wallboardSL); ok {
		t.ServiceLevel = &v
	}
	if c.Answered > 0 {
		v := c.ASA().Seconds()
		t.ASASeconds = &v
	}
	if c.Handled > 0 {
		v, w := c.AHT().Seconds(), c.AvgWrapUp().Seconds()
		t.AHTSeconds, t.WrapUpSeconds = &v, &w
	}
	if v, ok := c.AbandonRate(); ok {
		t.AbandonRate = &v
	}
	return t
}

type agentGauge struct {
	ID       uuid.UUID           `json:"id"`
	Name     string              `json:"name"`
	Presence string              `json:"presence"`
	Load     map[org.Channel]int `json:"load"`
	Offered  int                 `json:"offered"`
	// Occupancy today: time with work in hand (talk, hold, wrap-up) over
	// time staffed (available or with work in hand); null before any.
	Occupancy *float64 `json:"occupancy"`
	Handled   int      `json:"handled_today"`
	// Contacts in hand now, all channels (wrap-ups included).
	Contacts int `json:"contacts"`
	// PresenceSince: when the agent last chose (or was set to) their
	// presence, for the time in state; null when unknown.
	PresenceSince *time.Time `json:"presence_since"`
}

type gaugesJSON struct {
	At        time.Time      `json:"at"`
	Queues    []queueGauge   `json:"queues"`
	Agents    map[string]int `json:"agents"`
	AgentList []agentGauge   `json:"agent_list"`
}

// wallboardGauges derives the wallboard's labels. "Busy" is derived here
// from load and never stored: available and connected with work in hand.
// th are the thresholds supervisors set; other queues use the defaults.
func wallboardGauges(g routing.Gauges, today dispatch.Today, th map[uuid.UUID]org.QueueThresholds) gaugesJSON {
	out := gaugesJSON{
		At:        g.At.UTC(),
		Queues:    make([]queueGauge, 0, len(g.Queues)),
		Agents:    map[string]int{"available": 0, "busy": 0, "away": 0, "offline": 0},
		AgentList: make([]agentGauge, 0, len(g.Agents)),
	}
	for _, q := range g.Queues {
		t := queueThresholds(th, q.QueueID)
		counts, sla := today.Queues[q.QueueID], today.SLA[q.QueueID]
		qg := queueGauge{ID: q.QueueID, Name: q.Name, Waiting: q.Waiting, Offered: q.Offered,
			Today: todayFigures(counts, sla), Available: q.Available,
			Erlang:     erlangFigures(today.Arrivals[q.QueueID], counts, sla, t.SLGoal),
			Thresholds: toThresholdsJSON(t)}
		if !q.OldestArrival.IsZero() {
			qg.LongestWait = int(g.At.Sub(q.OldestArrival) / time.Second)
		}
		out.Queues = append(out.Queues, qg)
	}
	for _, a := range g.Agents {
		label := string(a.Presence)
		load := 0
		for _, n := range a.Load {
			load += n
		}
		switch {
		case !a.Connected || a.Presence == org.Offline:
			label = "offline"
		case a.Presence == org.Available && (load > 0 || a.Offered > 0):
			label = "busy"
		}
		out.Agents[label]++
		ag := agentGauge{ID: a.AgentID, Name: a.Name, Presence: label, Load: a.Load, Offered: a.Offered, Contacts: load}
		if !a.PresenceSince.IsZero() {
			since := a.PresenceSince.UTC()
			ag.PresenceSince = &since
		}
		if ac, ok := today.Agents[a.AgentID]; ok {
			ag.Handled = ac.Handled
			if v, ok := ac.Occupancy(); ok {
				ag.Occupancy = &v
			}
		}
		out.AgentList = append(out.AgentList, ag)
	}
	return out
}
