package crm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-cc/switchboard/internal/dbid"
	"github.com/switchboard-cc/switchboard/org"
)

// Call states (migration 00017). A call is in the menu until it waits in a
// queue; connecting once an agent accepted and the connector was told to
// bridge; ringing while the agent's phone rings; talking or held once the
// agent's leg answered.
const (
	CallMenu       = "menu"
	CallQueued     = "queued"
	CallConnecting = "connecting"
	CallRinging    = "ringing"
	CallTalking    = "talking"
	CallHeld       = "held"
	CallEnded      = "ended"
)

// Call is one call a phone connector told us of.
type Call struct {
	ID, TenantID, ConnectorID uuid.UUID
	CallID                    string // the connector's id
	ContactID                 uuid.UUID
	SiteID, NumberID          uuid.UUID
	CustomerID                uuid.UUID
	Candidates                []uuid.UUID
	Direction                 string
	From, Dialled             string
	State                     string
	AgentID                   uuid.UUID
	Extension                 string
	ConnectKey                string
	MenuTries                 int
	StartedAt                 time.Time
	QueuedAt, ConnectAt       *time.Time
	AnsweredAt, EndedAt       *time.Time
	HeldAt                    *time.Time // on hold since, while held
	HoldSeconds               float64
	Cause, RecordingURL       string
	TransferredTo             string
	// ContactState and QueueID are the contact's, when there is one.
	ContactState string
	QueueID      uuid.UUID
}

// NewCall is a new call as a connector reported it, already tied to its
// tenant, connector and hotline number by its entry point.
type NewCall struct {
	TenantID, ConnectorID, SiteID, NumberID uuid.UUID
	CallID                                  string
	Direction                               string
	// From is the customer's number (the caller's; on an outbound call the
	// number called) in E.164 when it parsed (then the customer is resolved
	// by it), else as the telephony sent it (withheld, "anonymous"), and
	// FromE164 is false. Dialled is our number.
	From     string
	FromE164 bool
	Dialled  string
	At       time.Time
}

const callColumns = `k.id, k.tenant_id, k.connector_id, k.call_id, k.contact_id, k.site_id, k.number_id, k.customer_id,
	k.candidates, k.direction, k.from_number, k.dialled, k.state, k.agent_id, k.extension, k.connect_key, k.menu_tries,
	k.started_at, k.queued_at, k.connect_at, k.answered_at, k.ended_at, k.hold_seconds, k.cause, k.recording_url,
	k.transferred_to, COALESCE(c.state, ''), c.queue_id, k.held_at`

const callFrom = ` FROM calls k LEFT JOIN contacts c ON c.tenant_id = k.tenant_id AND c.id = k.contact_id`

// scanCall reads callColumns, then extra (columns a query adds after them).
func scanCall(r pgx.Row, extra ...any) (Call, error) {
	var k Call
	var contact, site, number, customer, agent, queue *uuid.UUID
	dest := []any{&k.ID, &k.TenantID, &k.ConnectorID, &k.CallID, &contact, &site, &number, &customer,
		&k.Candidates, &k.Direction, &k.From, &k.Dialled, &k.State, &agent, &k.Extension, &k.ConnectKey, &k.MenuTries,
		&k.StartedAt, &k.QueuedAt, &k.ConnectAt, &k.AnsweredAt, &k.EndedAt, &k.HoldSeconds, &k.Cause, &k.RecordingURL,
		&k.TransferredTo, &k.ContactState, &queue, &k.HeldAt}
	err := r.Scan(append(dest, extra...)...)
	k.ContactID, k.SiteID, k.NumberID = dbid.Deref(contact), dbid.Deref(site), dbid.Deref(number)
	k.CustomerID, k.AgentID, k.QueueID = dbid.Deref(customer), dbid.Deref(agent), dbid.Deref(queue)
	return k, err
}

func callWhere(ctx context.Context, q dbtx, where string, args ...any) (Call, error) {
	k, err := scanCall(q.QueryRow(ctx, `SELECT `+callColumns+callFrom+` WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return Call{}, fmt.Errorf("call: %w", ErrNotFound)
	} else if err != nil {
		return Call{}, fmt.Errorf("call: %w", err)
	}
	return k, nil
}

// CallByExternal returns the call connector knows as callID.
func (s *Store) CallByExternal(ctx context.Context, tenant, connector uuid.UUID, callID string) (Call, error) {
	return callWhere(ctx, s.pool, `k.tenant_id = $1 AND k.connector_id = $2 AND k.call_id = $3`, tenant, connector, callID)
}

// CallOfContact returns the call behind a voice contact.
func (s *Store) CallOfContact(ctx context.Context, tenant, contact uuid.UUID) (Call, error) {
	return callWhere(ctx, s.pool, `k.tenant_id = $1 AND k.contact_id = $2`, tenant, contact)
}

// StartCall records a new call, idempotent by connector and call id: a
// repeat returns the first record with fresh false. A caller whose number
// parsed is resolved like any identity (a new number makes a new customer;
// a shared one leaves the candidates for the agent to choose).
//
// route, when set, is asked in the same transaction where a fresh call
// goes, given what the group knows of the caller: a queue opens its
// contact there at once (as QueueCall would, announce giving the NOTIFY),
// uuid.Nil leaves it in the menu. One transaction instead of three keeps a
// caller's wait short.
func (s *Store) StartCall(ctx context.Context, n NewCall, route func(Call, CallerContext) uuid.UUID,
	announce func(InboundResult) (string, string)) (CallStart, error) {
	if n.TenantID == uuid.Nil || n.ConnectorID == uuid.Nil || n.CallID == "" || len(n.CallID) > 128 {
		return CallStart{}, fmt.Errorf("start call: tenant, connector and call id are required: %w", ErrInvalid)
	}
	if n.Direction == "" {
		n.Direction = "inbound"
	}
	if n.Direction != "inbound" && n.Direction != "outbound" {
		return CallStart{}, fmt.Errorf("start call: direction: %w", ErrInvalid)
	}
	var out CallStart
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = CallStart{}
		var id uuid.UUID
		var started time.Time
		fresh := false
		// The call's row goes ahead of the caller's identity lock and
		// look-up, in their round trip.
		b := &pgx.Batch{}
		b.Queue(`
			INSERT INTO calls (id, tenant_id, connector_id, call_id, site_id, number_id, direction, from_number, dialled, started_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()))
			ON CONFLICT (tenant_id, connector_id, call_id) DO NOTHING
			RETURNING id, started_at`, dbid.New(), n.TenantID, n.ConnectorID, n.CallID, dbid.Null(n.SiteID), dbid.Null(n.NumberID),
			n.Direction, n.From, n.Dialled, nullTime(n.At)).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				fresh = true
				if err := rows.Scan(&id, &started); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		var r Resolution
		var err error
		if n.FromE164 {
			r, err = resolveAfter(ctx, tx, b, n.TenantID, []Identity{{Kind: "phone", Value: n.From}}, "", n.SiteID)
		} else {
			err = tx.SendBatch(ctx, b).Close()
		}
		switch {
		case pgCode(err) == codeForeignKeyViolation:
			return fmt.Errorf("start call: connector or site is not the tenant's: %w", ErrInvalid)
		case err != nil:
			return fmt.Errorf("start call: %w", err)
		case !fresh:
			// A repeat: the first record stands. A customer the look-up
			// made for it rolls back with this transaction.
			out.Call, err = callWhere(ctx, tx, `k.tenant_id = $1 AND k.connector_id = $2 AND k.call_id = $3`, n.TenantID, n.ConnectorID, n.CallID)
			if err == nil {
				err = errRepeatCall
			}
			return err
		}
		out.Fresh = true
		k := Call{ID: id, TenantID: n.TenantID, ConnectorID: n.ConnectorID, CallID: n.CallID, SiteID: n.SiteID, NumberID: n.NumberID,
			Direction: n.Direction, From: n.From, Dialled: n.Dialled, State: CallMenu, Candidates: []uuid.UUID{}, StartedAt: started}
		k.CustomerID = r.CustomerID
		newCustomer := r.Created
		if r.Candidates != nil {
			k.Candidates = r.Candidates
		}
		// A customer made just now for this number has no history: nothing
		// to read for the way, the preference or the tier.
		if route != nil && !newCustomer {
			if out.Context, err = callerContext(ctx, tx, n.TenantID, k.CustomerID); err != nil {
				return err
			}
		}
		queue := uuid.Nil
		if route != nil {
			queue = route(k, out.Context)
		}
		if queue == uuid.Nil {
			// The menu (or, without route, only the record): the caller's
			// customer, and the menu's first play.
			if route != nil {
				k.MenuTries = 1
			}
			_, err := tx.Exec(ctx, `UPDATE calls SET customer_id = $3, candidates = $4, menu_tries = $5 WHERE tenant_id = $1 AND id = $2`,
				n.TenantID, id, dbid.Null(k.CustomerID), k.Candidates, k.MenuTries)
			if err != nil {
				return fmt.Errorf("start call: %w", err)
			}
			out.Call = k
			return nil
		}
		out.Call, out.Queued, err = queueCall(ctx, tx, k, queue, &callerFacts{tier: out.Context.Tier, fresh: newCustomer}, announce)
		return err
	})
	if errors.Is(err, errRepeatCall) {
		return out, nil
	}
	if err != nil {
		return CallStart{}, err
	}
	return out, nil
}

// errRepeatCall rolls back a repeated call's transaction: the look-up ahead
// of knowing it was a repeat may have made a customer.
var errRepeatCall = errors.New("repeated call")

// CallStart is what StartCall did.
type CallStart struct {
	Call  Call
	Fresh bool // this call was new; false: a repeat, Call as first recorded
	// Context is what route was given (a fresh call with route only).
	Context CallerContext
	// Queued is the contact route's queue opened (NewContact false: none).
	Queued InboundResult
}

// CallerContext is what the hotline decides a known caller's way by.
type CallerContext struct {
	Tier  string
	Order *CallerOrder // the newest open service order
	Deal  *CallerDeal  // the newest open deal
}

// CallerOrder is an open service order of the caller.
type CallerOrder struct {
	ID        uuid.UUID
	Number    string
	Status    string
	Plate     string
	AdvisorID uuid.UUID
}

// CallerDeal is an open sales deal of the caller.
type CallerDeal struct {
	ID            uuid.UUID
	Stage         string
	SalespersonID uuid.UUID
}

// CallerContext returns what the group knows of customer that decides where
// their call goes. A zero customer has no context.
func (s *Store) CallerContext(ctx context.Context, tenant, customer uuid.UUID) (CallerContext, error) {
	return callerContext(ctx, s.pool, tenant, customer)
}

type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func callerContext(ctx context.Context, q batcher, tenant, customer uuid.UUID) (CallerContext, error) {
	var cc CallerContext
	if customer == uuid.Nil {
		return cc, nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT tier FROM customers WHERE tenant_id = $1 AND id = $2`, tenant, customer).QueryRow(func(r pgx.Row) error {
		return r.Scan(&cc.Tier)
	})
	b.Queue(`
		SELECT so.id, so.number, so.status, COALESCE(v.plate, ''), so.advisor_id
		FROM service_orders so LEFT JOIN vehicles v ON v.tenant_id = so.tenant_id AND v.id = so.vehicle_id
		WHERE so.tenant_id = $1 AND so.customer_id = $2 AND so.status <> 'collected'
		ORDER BY so.status = 'ready' DESC, so.updated_at DESC LIMIT 1`, tenant, customer).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var o CallerOrder
			var advisor *uuid.UUID
			if err := rows.Scan(&o.ID, &o.Number, &o.Status, &o.Plate, &advisor); err != nil {
				return err
			}
			o.AdvisorID = dbid.Deref(advisor)
			cc.Order = &o
		}
		return rows.Err()
	})
	b.Queue(`
		SELECT id, stage, salesperson_id FROM deals
		WHERE tenant_id = $1 AND customer_id = $2 AND stage NOT IN ('won', 'lost')
		ORDER BY created_at DESC LIMIT 1`, tenant, customer).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var d CallerDeal
			var sp *uuid.UUID
			if err := rows.Scan(&d.ID, &d.Stage, &sp); err != nil {
				return err
			}
			d.SalespersonID = dbid.Deref(sp)
			cc.Deal = &d
		}
		return rows.Err()
	})
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return CallerContext{}, fmt.Errorf("caller context: customer %s: %w", customer, ErrNotFound)
		}
		return CallerContext{}, fmt.Errorf("caller context: %w", err)
	}
	return cc, nil
}

// CountMenuTry counts one more time the caller heard the menu and returns
// how many times they have.
func (s *Store) CountMenuTry(ctx context.Context, tenant, call uuid.UUID) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `UPDATE calls SET menu_tries = menu_tries + 1, last_event_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING menu_tries`, tenant, call).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("menu try: %w", ErrNotFound)
	}
	return n, err
}

// QueueCall opens the call's voice contact, queued in queue, in one
// transaction: the contact (customer or candidates from the call,
// preferred agents and tier priority from the customer's history, as any
// inbound contact), its 'created' event, the webhook, and the NOTIFY that
// announce gives. A call that already has its contact returns it unchanged
// (a repeated menu choice), with res.Duplicate set.
func (s *Store) QueueCall(ctx context.Context, tenant, call, queue uuid.UUID, announce func(InboundResult) (string, string)) (Call, InboundResult, error) {
	var k Call
	var res InboundResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		k, err = callWhere(ctx, tx, `k.tenant_id = $1 AND k.id = $2 FOR UPDATE OF k`, tenant, call)
		if err != nil {
			return err
		}
		if k.ContactID != uuid.Nil || k.State == CallEnded {
			res = InboundResult{ContactID: k.ContactID, Duplicate: true, State: k.ContactState, QueueID: k.QueueID, Channel: org.Voice}
			return nil
		}
		k, res, err = queueCall(ctx, tx, k, queue, nil, announce)
		return err
	})
	if err != nil {
		return Call{}, InboundResult{}, err
	}
	return k, res, nil
}

// callerFacts is what StartCall already knows of the caller when it
// opens the contact: their tier, and whether their customer is new (no
// history to prefer anyone from).
type callerFacts struct {
	tier  string
	fresh bool
}

// queueCall opens k's contact in queue; the caller holds k's row. With
// facts (a new call's transaction), the contact, its event, the call's
// update, the webhook and the NOTIFY go in one round trip, after at most
// one read (the preferred agents of a known customer); without, the
// customer's tier and history are read first.
func queueCall(ctx context.Context, tx pgx.Tx, k Call, queue uuid.UUID, facts *callerFacts, announce func(InboundResult) (string, string)) (Call, InboundResult, error) {
	tenant := k.TenantID
	res := InboundResult{ContactID: dbid.New(), CustomerID: k.CustomerID, Candidates: k.Candidates, NewContact: true,
		State: StateQueued, QueueID: queue, Channel: org.Voice, ArrivedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if res.Candidates == nil {
		res.Candidates = []uuid.UUID{}
	}
	if facts == nil && k.CustomerID != uuid.Nil {
		var tier string
		if err := tx.QueryRow(ctx, `SELECT tier FROM customers WHERE tenant_id = $1 AND id = $2`, tenant, k.CustomerID).Scan(&tier); err != nil {
			return Call{}, InboundResult{}, fmt.Errorf("queue call: tier of %s: %w", k.CustomerID, err)
		}
		facts = &callerFacts{tier: tier}
	}
	if facts != nil {
		res.Priority = TierPriority[facts.tier]
	}
	insertContact := func(q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}) error {
		_, err := q.Exec(ctx, `
			INSERT INTO contacts (id, tenant_id, site_id, channel, queue_id, customer_id, candidates, state, arrived_at, direction, priority)
			VALUES ($1, $2, $3, 'voice', $4, $5, $6, 'queued', $7, $8, $9)`, res.ContactID, tenant, dbid.Null(k.SiteID), queue,
			dbid.Null(k.CustomerID), res.Candidates, res.ArrivedAt, k.Direction, res.Priority)
		return err
	}
	b := &pgx.Batch{}
	if facts != nil && facts.fresh {
		// No history to prefer anyone from: the contact rides in the
		// final round trip with everything else.
		insertContact(batchExec{b})
	} else {
		// Preferences are stored on the contact, which must exist first.
		err := insertContact(tx)
		if pgCode(err) == codeForeignKeyViolation {
			return Call{}, InboundResult{}, fmt.Errorf("queue call: queue %s is not the tenant's: %w", queue, ErrInvalid)
		} else if err != nil {
			return Call{}, InboundResult{}, fmt.Errorf("queue call: open contact: %w", err)
		}
		if res.Preference, err = preferFromHistory(ctx, tx, tenant, res.ContactID, k.CustomerID, queue); err != nil {
			return Call{}, InboundResult{}, fmt.Errorf("queue call: %w", err)
		}
	}
	queueEvent(b, tenant, res.ContactID, "created", queue, uuid.Nil, map[string]any{"channel": org.Voice, "call": true})
	b.Queue(`UPDATE calls SET contact_id = $3, state = 'queued', queued_at = now(), last_event_at = now(),
			customer_id = $4, candidates = $5
		WHERE tenant_id = $1 AND id = $2`, tenant, k.ID, res.ContactID, dbid.Null(k.CustomerID), res.Candidates)
	if err := queueWebhook(b, tenant, EventContactCreated, map[string]any{
		"contact_id": res.ContactID, "channel": org.Voice, "queue_id": queue, "site_id": nullID(k.SiteID),
		"customer_id": nullID(k.CustomerID), "candidates": res.Candidates, "arrived_at": res.ArrivedAt,
	}); err != nil {
		return Call{}, InboundResult{}, err
	}
	if announce != nil {
		channel, payload := announce(res)
		b.Queue(`SELECT pg_notify($1, $2)`, channel, payload)
	}
	if err := tx.SendBatch(ctx, b).Close(); pgCode(err) == codeForeignKeyViolation {
		return Call{}, InboundResult{}, fmt.Errorf("queue call: queue %s is not the tenant's: %w", queue, ErrInvalid)
	} else if err != nil {
		return Call{}, InboundResult{}, fmt.Errorf("queue call: %w", err)
	}
	k.ContactID, k.QueueID, k.ContactState, k.State = res.ContactID, queue, StateQueued, CallQueued
	now := res.ArrivedAt
	k.QueuedAt = &now
	return k, res, nil
}

// CallConnecting records that the connector is to bridge the call to
// agent, under key (its idempotency key): the call waits for the agent's
// leg to answer. Only a call whose contact agent holds qualifies
// (ErrNotHeld otherwise). send says whether the connect is to go out: a
// repeat with the same key is (the connector drops a repeat itself, and the
// first may never have left), another key for an agent already being
// connected is not (two nodes' connects must not ring twice). A call
// transferred while talking is connected to its new agent the same way:
// the connector moves the caller, ending the first agent's leg.
func (s *Store) CallConnecting(ctx context.Context, tenant, contact, agent uuid.UUID, extension, key string) (k Call, send bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockHeld(ctx, tx, tenant, contact, agent); err != nil {
			return fmt.Errorf("call connecting %s: %w", contact, err)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE calls SET state = 'connecting', agent_id = $3, extension = $4, connect_key = $5, connect_at = now(), last_event_at = now()
			WHERE tenant_id = $1 AND contact_id = $2 AND state <> 'ended' AND connect_key <> $5
			  AND NOT (state IN ('connecting', 'ringing') AND agent_id = $3)`,
			tenant, contact, agent, extension, key)
		if err != nil {
			return fmt.Errorf("call connecting %s: %w", contact, err)
		}
		if tag.RowsAffected() == 1 {
			if err := insertEvent(ctx, tx, tenant, contact, "call_connecting", uuid.Nil, agent, nil); err != nil {
				return err
			}
		}
		k, err = callWhere(ctx, tx, `k.tenant_id = $1 AND k.contact_id = $2`, tenant, contact)
		send = tag.RowsAffected() == 1 || k.ConnectKey == key
		return err
	})
	return k, send, err
}

// Connecting lists calls told to ring an agent before due that the agent's
// leg has not answered: the phone service sends their connect again (a
// node died before it could) or gives up on the agent.
func (s *Store) Connecting(ctx context.Context, before time.Time, limit int) ([]Call, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+callColumns+callFrom+`
		WHERE k.state IN ('connecting', 'ringing') AND k.connect_at < $1 ORDER BY k.connect_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("connecting calls: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Call, error) { return scanCall(r) })
}

// AcceptedUnconnected lists voice contacts an agent accepted (open
// assignment, not in wrap-up) whose call was never told to connect: the
// accepting node died before it could. updatedBefore leaves alone the ones
// just accepted, which their own node is connecting.
func (s *Store) AcceptedUnconnected(ctx context.Context, updatedBefore time.Time, limit int) ([]Call, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+callColumns+`, a.agent_id`+callFrom+`
		JOIN assignments a ON a.tenant_id = k.tenant_id AND a.contact_id = k.contact_id AND a.ended_at IS NULL AND a.wrap_up_at IS NULL
		WHERE k.state = 'queued' AND c.state = 'active' AND a.started_at < $1 ORDER BY a.started_at LIMIT $2`, updatedBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("unconnected calls: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Call, error) {
		// The holder, not the call's agent: no connect has named one yet.
		var holder uuid.UUID
		k, err := scanCall(r, &holder)
		k.AgentID = holder
		return k, err
	})
}

// CallEvent is one connector event to apply to a call, already tied to its
// tenant and connector, with the extension's agent looked up.
type CallEvent struct {
	TenantID, ConnectorID uuid.UUID
	CallID, EventID       string
	// Kind is the phone channel's kind: answered, held, unheld,
	// transferred, ended, recording, offered, ringing, queued.
	Kind      string
	Extension string
	AgentID   uuid.UUID // whose extension it is; uuid.Nil when none or unknown
	Cause     string
	Target    string
	Recording string
	At        time.Time
	// Observe: the PBX routes, so the agent whose leg answers gets the
	// contact here rather than through routing's accept.
	Observe bool
	// DefaultQueue is the hotline number's queue: where a call that ends
	// before it reached a queue (in the menu) is recorded as missed, and
	// where observe mode's contacts are counted.
	DefaultQueue uuid.UUID
}

// CallChange is what applying a CallEvent did that routing, the consoles
// and the customer's side must hear of.
type CallChange struct {
	Duplicate bool // the event id was applied before: nothing changed
	Call      Call
	// Abandoned: the caller hung up before an agent answered; the contact
	// is abandoned (Cancelled: it was waiting, so routing must drop it).
	Abandoned, Cancelled bool
	Callback             *Callback // the missed call's callback, if one was made
	// Requeued: the agent's leg did not answer; the contact waits again
	// with its age. Missed is that agent (a missed offer).
	Requeued *Contact
	Missed   uuid.UUID
	// Ended: the call ended after the agent answered; Agent wraps up until
	// WrapUpUntil (nil: no wrap-up time, the assignment ended).
	Ended       bool
	Agent       uuid.UUID
	WrapUpUntil *time.Time
	// Answered: the agent's leg answered (Agent). Assigned: observe mode
	// gave the contact to Agent now; Released: it took it from Previous.
	Answered, Assigned bool
	Previous           uuid.UUID
	// Ringing: observe mode rings Agent's extension (a screen-pop).
	Ringing bool
}

// missedCallWindow is how long a missed call's callback may be tried.
const missedCallWindow = 24 * time.Hour

// ApplyCallEvent applies ev to its call in one transaction, idempotent by
// ev.EventID, and says what changed. Events for a call no connector
// started are ErrNotFound; events on an ended call change nothing more
// (recording links aside).
func (s *Store) ApplyCallEvent(ctx context.Context, ev CallEvent) (CallChange, error) {
	if ev.EventID == "" || len(ev.EventID) > 256 || ev.CallID == "" {
		return CallChange{}, fmt.Errorf("call event: event and call id are required: %w", ErrInvalid)
	}
	var ch CallChange
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		ch = CallChange{}
		k, err := callWhere(ctx, tx, `k.tenant_id = $1 AND k.connector_id = $2 AND k.call_id = $3 FOR UPDATE OF k`,
			ev.TenantID, ev.ConnectorID, ev.CallID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO call_events (tenant_id, connector_id, event_id, call_id, kind, at)
			VALUES ($1, $2, $3, $4, $5, COALESCE($6, now())) ON CONFLICT DO NOTHING`,
			ev.TenantID, ev.ConnectorID, ev.EventID, ev.CallID, ev.Kind, nullTime(ev.At))
		if err != nil {
			return fmt.Errorf("call event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			ch.Duplicate, ch.Call = true, k
			return nil
		}
		if err := applyCallEvent(ctx, tx, ev, k, &ch); err != nil {
			return err
		}
		ch.Call, err = callWhere(ctx, tx, `k.tenant_id = $1 AND k.id = $2`, ev.TenantID, k.ID)
		return err
	})
	if err != nil {
		return CallChange{}, err
	}
	return ch, nil
}

func applyCallEvent(ctx context.Context, tx pgx.Tx, ev CallEvent, k Call, ch *CallChange) error {
	exec := func(sql string, args ...any) error {
		_, err := tx.Exec(ctx, sql, append([]any{ev.TenantID, k.ID, nullTime(ev.At)}, args...)...)
		if err != nil {
			return fmt.Errorf("call event %s: %w", ev.Kind, err)
		}
		return nil
	}
	touch := `last_event_at = GREATEST(last_event_at, COALESCE($3, now()))`
	if k.State == CallEnded {
		if ev.Kind == "recording" {
			// Recordings are often ready only after the hang-up.
			_, err := tx.Exec(ctx, `UPDATE calls SET recording_url = $3 WHERE tenant_id = $1 AND id = $2`, ev.TenantID, k.ID, ev.Recording)
			return err
		}
		return nil
	}
	switch ev.Kind {
	case "ringing", "queued":
		return exec(`UPDATE calls SET ` + touch + ` WHERE tenant_id = $1 AND id = $2`)
	case "offered":
		if ev.AgentID == uuid.Nil {
			return exec(`UPDATE calls SET ` + touch + ` WHERE tenant_id = $1 AND id = $2`)
		}
		if ev.Observe {
			if err := observeContact(ctx, tx, ev, &k); err != nil {
				return err
			}
			ch.Ringing, ch.Agent = true, ev.AgentID
			return exec(`UPDATE calls SET state = CASE WHEN state IN ('menu', 'queued', 'ringing') THEN 'ringing' ELSE state END,
				agent_id = CASE WHEN state IN ('menu', 'queued', 'ringing') THEN $4 ELSE agent_id END,
				extension = CASE WHEN state IN ('menu', 'queued', 'ringing') THEN $5 ELSE extension END, `+touch+`
				WHERE tenant_id = $1 AND id = $2`, ev.AgentID, ev.Extension)
		}
		return exec(`UPDATE calls SET state = CASE WHEN state = 'connecting' AND agent_id = $4 THEN 'ringing' ELSE state END, `+touch+`
			WHERE tenant_id = $1 AND id = $2`, ev.AgentID)
	case "answered":
		if ev.AgentID == uuid.Nil {
			// The telephony itself (IVR, holding) answered.
			return exec(`UPDATE calls SET ` + touch + ` WHERE tenant_id = $1 AND id = $2`)
		}
		if ev.Observe {
			if err := observeContact(ctx, tx, ev, &k); err != nil {
				return err
			}
			prev, err := takeCall(ctx, tx, ev.TenantID, k.ContactID, ev.AgentID, k.QueueID)
			if err != nil {
				return err
			}
			ch.Assigned, ch.Previous = prev != ev.AgentID, prev
		} else if k.AgentID != ev.AgentID || k.ContactState != StateActive {
			// In control mode only the agent Switchboard connected can
			// answer; anything else is a stale or foreign leg.
			return exec(`UPDATE calls SET ` + touch + ` WHERE tenant_id = $1 AND id = $2`)
		}
		ch.Answered, ch.Agent = true, ev.AgentID
		if (k.State != CallTalking && k.State != CallHeld) || k.AgentID != ev.AgentID {
			// This agent's answer: the one statistics count (a transferred
			// call is answered again in its new queue).
			if err := insertEvent(ctx, tx, ev.TenantID, k.ContactID, "call_answered", k.QueueID, ev.AgentID, nil); err != nil {
				return err
			}
		}
		return exec(`UPDATE calls SET state = 'talking', agent_id = $4, extension = $5,
			answered_at = COALESCE(answered_at, COALESCE($3, now())), `+touch+` WHERE tenant_id = $1 AND id = $2`, ev.AgentID, ev.Extension)
	case "held":
		if k.State != CallTalking {
			return nil
		}
		return exec(`UPDATE calls SET state = 'held', held_at = COALESCE($3, now()), ` + touch + ` WHERE tenant_id = $1 AND id = $2`)
	case "unheld":
		if k.State != CallHeld {
			return nil
		}
		return exec(`UPDATE calls SET state = 'talking', held_at = NULL,
			hold_seconds = hold_seconds + GREATEST(EXTRACT(EPOCH FROM COALESCE($3, now()) - held_at), 0), ` + touch + `
			WHERE tenant_id = $1 AND id = $2`)
	case "transferred":
		return exec(`UPDATE calls SET transferred_to = $4, `+touch+` WHERE tenant_id = $1 AND id = $2`, ev.Target)
	case "recording":
		return exec(`UPDATE calls SET recording_url = $4, `+touch+` WHERE tenant_id = $1 AND id = $2`, ev.Recording)
	case "ended":
		if ev.Extension != "" && (ev.AgentID == uuid.Nil || ev.AgentID != k.AgentID) {
			// Another device's leg (ring-all at the PBX, a stale leg).
			return exec(`UPDATE calls SET ` + touch + ` WHERE tenant_id = $1 AND id = $2`)
		}
		if ev.Extension != "" && (k.State == CallConnecting || k.State == CallRinging) {
			return agentLegFailed(ctx, tx, ev, k, ch)
		}
		return endCall(ctx, tx, ev, k, ch)
	}
	return fmt.Errorf("call event: kind %q: %w", ev.Kind, ErrInvalid)
}

// observeContact opens the contact of an observed call at its first ring
// or answer: the PBX has already routed it, so it is active from the start
// (routing never sees it) in the number's queue, for the record and the
// screen-pop.
func observeContact(ctx context.Context, tx pgx.Tx, ev CallEvent, k *Call) error {
	if k.ContactID != uuid.Nil {
		return nil
	}
	if ev.DefaultQueue == uuid.Nil {
		return fmt.Errorf("observed call: no queue to record it in: %w", ErrInvalid)
	}
	id := dbid.New()
	cands := k.Candidates
	if cands == nil {
		cands = []uuid.UUID{}
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO contacts (id, tenant_id, site_id, channel, queue_id, customer_id, candidates, state, arrived_at, direction)
		VALUES ($1, $2, $3, 'voice', $4, $5, $6, 'active', $7, $8)`,
		id, ev.TenantID, dbid.Null(k.SiteID), ev.DefaultQueue, dbid.Null(k.CustomerID), cands, k.StartedAt, k.Direction); err != nil {
		return fmt.Errorf("observed call: open contact: %w", err)
	}
	if err := insertEvent(ctx, tx, ev.TenantID, id, "created", ev.DefaultQueue, uuid.Nil, map[string]any{"channel": org.Voice, "call": true}); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE calls SET contact_id = $3, queued_at = COALESCE(queued_at, now()) WHERE tenant_id = $1 AND id = $2`,
		ev.TenantID, k.ID, id); err != nil {
		return fmt.Errorf("observed call: %w", err)
	}
	k.ContactID, k.QueueID, k.ContactState = id, ev.DefaultQueue, StateActive
	return nil
}

// takeCall gives an observed call's contact to agent (the PBX put the call
// through to their extension), ending another agent's open assignment as
// transferred. It returns who held it before (agent itself when nothing
// changed).
func takeCall(ctx context.Context, tx pgx.Tx, tenant, contact, agent, queue uuid.UUID) (uuid.UUID, error) {
	var prev *uuid.UUID
	err := tx.QueryRow(ctx, `SELECT agent_id FROM assignments WHERE tenant_id = $1 AND contact_id = $2 AND ended_at IS NULL`,
		tenant, contact).Scan(&prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("observed call: %w", err)
	}
	if prev != nil && *prev == agent {
		return agent, nil
	}
	if prev != nil {
		if err := endAssignment(ctx, tx, tenant, contact, *prev, "transferred"); err != nil {
			return uuid.Nil, err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO assignments (id, tenant_id, contact_id, agent_id, offer_id) VALUES ($1, $2, $3, $4, $5)`,
		dbid.New(), tenant, contact, agent, dbid.New()); err != nil {
		return uuid.Nil, fmt.Errorf("observed call: assign: %w", err)
	}
	if err := insertEvent(ctx, tx, tenant, contact, "assigned", queue, agent, map[string]any{"observed": true}); err != nil {
		return uuid.Nil, err
	}
	return dbid.Deref(prev), nil
}

// agentLegFailed: the agent Switchboard connected did not answer (rang
// out, busy, rejected, failed). The contact waits again with its age and
// the agent has missed an offer.
func agentLegFailed(ctx context.Context, tx pgx.Tx, ev CallEvent, k Call, ch *CallChange) error {
	if k.ContactState == StateActive {
		if _, err := lockHeld(ctx, tx, ev.TenantID, k.ContactID, k.AgentID); err == nil {
			if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'queued', updated_at = now() WHERE tenant_id = $1 AND id = $2`,
				ev.TenantID, k.ContactID); err != nil {
				return fmt.Errorf("agent leg failed: %w", err)
			}
			if err := endAssignment(ctx, tx, ev.TenantID, k.ContactID, k.AgentID, "no_answer"); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, ev.TenantID, k.ContactID, "requeued", k.QueueID, k.AgentID,
				map[string]any{"reason": "phone_" + ev.Cause}); err != nil {
				return err
			}
			c, err := contactByID(ctx, tx, ev.TenantID, k.ContactID)
			if err != nil {
				return err
			}
			ch.Requeued = &c
		} else if !errors.Is(err, ErrNotHeld) {
			return fmt.Errorf("agent leg failed: %w", err)
		}
	}
	ch.Missed = k.AgentID
	_, err := tx.Exec(ctx, `UPDATE calls SET state = 'queued', agent_id = NULL, extension = '', connect_key = '', connect_at = NULL,
		last_event_at = now() WHERE tenant_id = $1 AND id = $2`, ev.TenantID, k.ID)
	if err != nil {
		return fmt.Errorf("agent leg failed: %w", err)
	}
	return nil
}

// endCall: the call is over. Answered by an agent: the contact closes and
// the agent wraps up. Not answered: the caller gave up, the contact is
// abandoned, and the missed call gets a callback in its queue (a caller
// who hung up in the menu gets a contact in the number's queue for it).
func endCall(ctx context.Context, tx pgx.Tx, ev CallEvent, k Call, ch *CallChange) error {
	cause := ev.Cause
	if k.AnsweredAt == nil && (cause == "" || cause == "normal") {
		cause = "abandoned"
	}
	if cause == "" {
		cause = "normal"
	}
	if _, err := tx.Exec(ctx, `
		UPDATE calls SET state = 'ended', ended_at = COALESCE($3, now()), cause = $4,
			hold_seconds = hold_seconds + CASE WHEN held_at IS NULL THEN 0
				ELSE GREATEST(EXTRACT(EPOCH FROM COALESCE($3, now()) - held_at), 0) END,
			held_at = NULL, last_event_at = now()
		WHERE tenant_id = $1 AND id = $2`, ev.TenantID, k.ID, nullTime(ev.At), cause); err != nil {
		return fmt.Errorf("end call: %w", err)
	}
	if k.AnsweredAt != nil && k.ContactState == StateActive && k.AgentID != uuid.Nil {
		return closeCall(ctx, tx, ev, k, ch)
	}
	if k.Direction == "outbound" && k.ContactState == StateActive {
		// A callback the customer did not pick up: the agent keeps the
		// contact and reports the outcome (no answer, busy…), which
		// schedules the next attempt.
		return nil
	}
	if k.ContactID == uuid.Nil {
		if ev.DefaultQueue == uuid.Nil || k.Direction != "inbound" {
			return nil
		}
		// Hung up in the menu: a missed call all the same.
		id := dbid.New()
		cands := k.Candidates
		if cands == nil {
			cands = []uuid.UUID{}
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO contacts (id, tenant_id, site_id, channel, queue_id, customer_id, candidates, state, arrived_at, direction)
			VALUES ($1, $2, $3, 'voice', $4, $5, $6, 'queued', now(), 'inbound')`,
			id, ev.TenantID, dbid.Null(k.SiteID), ev.DefaultQueue, dbid.Null(k.CustomerID), cands); err != nil {
			return fmt.Errorf("end call in menu: %w", err)
		}
		if err := insertEvent(ctx, tx, ev.TenantID, id, "created", ev.DefaultQueue, uuid.Nil, map[string]any{"channel": org.Voice, "call": true}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE calls SET contact_id = $3 WHERE tenant_id = $1 AND id = $2`, ev.TenantID, k.ID, id); err != nil {
			return fmt.Errorf("end call in menu: %w", err)
		}
		k.ContactID, k.QueueID, k.ContactState = id, ev.DefaultQueue, StateQueued
	}
	switch k.ContactState {
	case StateQueued:
		ch.Cancelled = true
	case StateActive:
		// The caller hung up while the agent's phone rang (control), or
		// before anyone answered the PBX's ring (observe).
		var holder *uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT agent_id FROM assignments WHERE tenant_id = $1 AND contact_id = $2 AND ended_at IS NULL`,
			ev.TenantID, k.ContactID).Scan(&holder); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("end call: %w", err)
		}
		if holder != nil {
			if err := endAssignment(ctx, tx, ev.TenantID, k.ContactID, *holder, "abandoned"); err != nil {
				return err
			}
			ch.Agent = *holder
		}
	default:
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE contacts SET state = 'abandoned', closed_at = now(), updated_at = now()
		WHERE tenant_id = $1 AND id = $2`, ev.TenantID, k.ContactID); err != nil {
		return fmt.Errorf("end call: abandon: %w", err)
	}
	if err := insertEvent(ctx, tx, ev.TenantID, k.ContactID, "abandoned", k.QueueID, uuid.Nil, map[string]any{"reason": "caller_hung_up"}); err != nil {
		return err
	}
	ch.Abandoned = true
	if k.Direction != "inbound" || k.CustomerID == uuid.Nil {
		return nil
	}
	// The number they called from is the one to call back.
	phone := ""
	if strings.HasPrefix(k.From, "+") {
		phone = k.From
	}
	now := time.Now()
	cb, err := scheduleCallback(ctx, tx, ev.TenantID, NewCallback{CustomerID: k.CustomerID, QueueID: k.QueueID,
		OriginContactID: k.ContactID, Phone: phone, Deadline: now.Add(missedCallWindow)}, now)
	switch {
	case err == nil:
		ch.Callback = &cb
	case errors.Is(err, ErrNoPhone):
	default:
		return fmt.Errorf("end call: missed-call callback: %w", err)
	}
	return nil
}

// closeCall closes an answered call's contact and starts its agent's
// wrap-up, as Close does for an agent who ends a chat.
func closeCall(ctx context.Context, tx pgx.Tx, ev CallEvent, k Call, ch *CallChange) error {
	if _, err := lockHeld(ctx, tx, ev.TenantID, k.ContactID, k.AgentID); err != nil {
		if errors.Is(err, ErrNotHeld) {
			return nil
		}
		return fmt.Errorf("end call: %w", err)
	}
	var secs int
	var until time.Time
	if err := tx.QueryRow(ctx, `
		UPDATE contacts c SET state = 'closed', closed_at = now(), updated_at = now()
		FROM queues q
		WHERE c.tenant_id = $1 AND c.id = $2 AND q.tenant_id = c.tenant_id AND q.id = c.queue_id
		RETURNING q.wrap_up_seconds, now() + make_interval(secs => q.wrap_up_seconds)`,
		ev.TenantID, k.ContactID).Scan(&secs, &until); err != nil {
		return fmt.Errorf("end call: close: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE assignments SET wrap_up_at = now()
		WHERE tenant_id = $1 AND contact_id = $2 AND agent_id = $3 AND ended_at IS NULL`, ev.TenantID, k.ContactID, k.AgentID); err != nil {
		return fmt.Errorf("end call: start wrap-up: %w", err)
	}
	if err := insertEvent(ctx, tx, ev.TenantID, k.ContactID, "closed", k.QueueID, k.AgentID,
		map[string]any{"end_reason": "call_ended", "wrap_up_seconds": secs}); err != nil {
		return err
	}
	ch.Ended, ch.Agent = true, k.AgentID
	if secs == 0 {
		return endWrapUp(ctx, tx, ev.TenantID, k.ContactID, k.AgentID, k.QueueID, time.Time{}, "none")
	}
	ch.WrapUpUntil = &until
	c, err := contactByID(ctx, tx, ev.TenantID, k.ContactID)
	if err != nil {
		return err
	}
	return enqueueWebhook(ctx, tx, ev.TenantID, EventContactClosed, contactWebhook(c))
}

// CallRecord is a call as the customer's timeline and reports show it:
// when it started, was answered and ended, how long the caller waited,
// talked (hold excluded), was held and the agent wrapped up, why it
// ended, and its recording.
type CallRecord struct {
	Direction     string     `json:"direction"`
	StartedAt     time.Time  `json:"started_at"`
	AnsweredAt    *time.Time `json:"answered_at,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	WaitSeconds   float64    `json:"wait_seconds"`
	TalkSeconds   float64    `json:"talk_seconds"`
	HoldSeconds   float64    `json:"hold_seconds"`
	WrapUpSeconds float64    `json:"wrap_up_seconds"`
	Cause         string     `json:"cause,omitempty"`
	RecordingURL  string     `json:"recording_url,omitempty"`
}

// callRecords returns the call records of contacts that have one.
func callRecords(ctx context.Context, q dbtx, tenant uuid.UUID, contacts []uuid.UUID) (map[uuid.UUID]CallRecord, error) {
	rows, err := q.Query(ctx, `
		SELECT k.contact_id, k.direction, k.started_at, k.answered_at, k.ended_at,
		       GREATEST(EXTRACT(EPOCH FROM COALESCE(k.answered_at, k.ended_at, now()) - COALESCE(k.queued_at, k.started_at)), 0)::float8,
		       CASE WHEN k.answered_at IS NULL THEN 0
		            ELSE GREATEST(EXTRACT(EPOCH FROM COALESCE(k.ended_at, now()) - k.answered_at) - k.hold_seconds, 0) END::float8,
		       k.hold_seconds,
		       COALESCE((SELECT EXTRACT(EPOCH FROM a.ended_at - a.wrap_up_at) FROM assignments a
		                 WHERE a.tenant_id = k.tenant_id AND a.contact_id = k.contact_id
		                   AND a.wrap_up_at IS NOT NULL AND a.ended_at IS NOT NULL
		                 ORDER BY a.started_at DESC LIMIT 1), 0)::float8,
		       k.cause, k.recording_url
		FROM calls k WHERE k.tenant_id = $1 AND k.contact_id = ANY ($2)`, tenant, contacts)
	if err != nil {
		return nil, fmt.Errorf("call records: %w", err)
	}
	out := map[uuid.UUID]CallRecord{}
	for rows.Next() {
		var id uuid.UUID
		var r CallRecord
		if err := rows.Scan(&id, &r.Direction, &r.StartedAt, &r.AnsweredAt, &r.EndedAt, &r.WaitSeconds, &r.TalkSeconds,
			&r.HoldSeconds, &r.WrapUpSeconds, &r.Cause, &r.RecordingURL); err != nil {
			return nil, fmt.Errorf("call records: %w", err)
		}
		out[id] = r
	}
	return out, rows.Err()
}

// OutboundCall is a call Switchboard places for an agent (a callback's
// click-to-call) through a connector.
type OutboundCall struct {
	TenantID, ConnectorID, ContactID, AgentID uuid.UUID
	CallID                                    string // our id for it, given to the connector
	Extension                                 string
	Key                                       string
}

// StartOutboundCall records the call an agent places on a callback they
// hold, as connecting to their own phone first, and returns the number to
// call (the callback's). A repeat with the same call id returns the first
// record. ErrNotHeld when the agent does not hold the contact, ErrInvalid
// when it is not a callback.
func (s *Store) StartOutboundCall(ctx context.Context, o OutboundCall) (Call, string, error) {
	var k Call
	var phone string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockHeld(ctx, tx, o.TenantID, o.ContactID, o.AgentID); err != nil {
			return fmt.Errorf("outbound call on %s: %w", o.ContactID, err)
		}
		var site *uuid.UUID
		err := tx.QueryRow(ctx, `
			SELECT cb.phone, c.site_id FROM contacts c JOIN callbacks cb ON cb.tenant_id = c.tenant_id AND cb.id = c.callback_id
			WHERE c.tenant_id = $1 AND c.id = $2 AND c.channel = 'voice' AND c.direction = 'outbound'`,
			o.TenantID, o.ContactID).Scan(&phone, &site)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("outbound call on %s: not a callback: %w", o.ContactID, ErrInvalid)
		} else if err != nil {
			return fmt.Errorf("outbound call on %s: %w", o.ContactID, err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO calls (id, tenant_id, connector_id, call_id, contact_id, site_id, direction, from_number, state,
				agent_id, extension, connect_key, connect_at, started_at, queued_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'outbound', $7, 'connecting', $8, $9, $10, now(), now(), now())
			ON CONFLICT DO NOTHING`, dbid.New(), o.TenantID, o.ConnectorID, o.CallID, o.ContactID, site, phone,
			o.AgentID, o.Extension, o.Key); err != nil {
			return fmt.Errorf("outbound call on %s: %w", o.ContactID, err)
		}
		k, err = callWhere(ctx, tx, `k.tenant_id = $1 AND k.contact_id = $2`, o.TenantID, o.ContactID)
		return err
	})
	if err != nil {
		return Call{}, "", err
	}
	return k, phone, nil
}

// RenameCall gives a call the id its connector knows it by (Twilio's
// CallSid, known once the call is created), so its events find it.
func (s *Store) RenameCall(ctx context.Context, tenant, connector uuid.UUID, from, to string) error {
	if to == "" || len(to) > 128 || to == from {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE calls SET call_id = $4 WHERE tenant_id = $1 AND connector_id = $2 AND call_id = $3`,
		tenant, connector, from, to)
	if err != nil {
		return fmt.Errorf("rename call: %w", err)
	}
	return nil
}

// CallbackConnector is the connector that carried the call a callback
// attempt answers (its origin), or uuid.Nil: the callback is best placed
// through the same telephony the customer called.
func (s *Store) CallbackConnector(ctx context.Context, tenant, contact uuid.UUID) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `
		SELECT k.connector_id FROM contacts c
		JOIN callbacks cb ON cb.tenant_id = c.tenant_id AND cb.id = c.callback_id
		JOIN calls k ON k.tenant_id = cb.tenant_id AND k.contact_id = cb.origin_contact_id
		WHERE c.tenant_id = $1 AND c.id = $2`, tenant, contact).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil
	} else if err != nil {
		return uuid.Nil, fmt.Errorf("callback connector: %w", err)
	}
	return id, nil
}

// batchExec queues an Exec in a batch instead of running it.
type batchExec struct{ b *pgx.Batch }

func (e batchExec) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	e.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}
