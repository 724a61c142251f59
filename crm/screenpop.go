package crm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/switchboard-cc/switchboard/org"
)

// CustomerSummary is what an agent sees of a customer at a glance.
type CustomerSummary struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"` // person, company
	Tier     string    `json:"tier"`
	Language string    `json:"language"`
	Notes    string    `json:"notes"`
	// Restricted: the customer is outside the viewer's scope (another
	// site's customer under site visibility); only ID is set.
	Restricted bool `json:"restricted,omitempty"`
}

// Vehicle is a car linked to a customer.
type Vehicle struct {
	ID        uuid.UUID `json:"id"`
	VIN       string    `json:"vin"`
	Plate     string    `json:"plate"`
	Make      string    `json:"make"`
	Model     string    `json:"model"`
	Year      int       `json:"year,omitempty"`
	MileageKM int       `json:"mileage_km,omitempty"`
	Role      string    `json:"role"` // the customer's relation to it: owner, driver, household…
	// OpenOrders are the vehicle's service orders not yet collected, newest
	// first (screen-pop only; the same orders are in ScreenPop.ServiceOrders).
	OpenOrders []ServiceOrder `json:"open_orders,omitempty"`
}

// ServiceOrder is a workshop job for a customer.
type ServiceOrder struct {
	ID          uuid.UUID  `json:"id"`
	Number      string     `json:"number"`
	Kind        string     `json:"kind"`
	Status      string     `json:"status"`
	Description string     `json:"description"`
	Plate       string     `json:"plate"`
	VehicleID   *uuid.UUID `json:"vehicle_id,omitempty"`
	PromisedAt  *time.Time `json:"promised_at,omitempty"`
	Amount      string     `json:"amount"` // decimal, e.g. "860.00"
}

// Deal is a sale in progress.
type Deal struct {
	ID              uuid.UUID  `json:"id"`
	Stage           string     `json:"stage"`
	VehicleDesc     string     `json:"vehicle_desc"`
	Value           string     `json:"value"` // decimal
	SalespersonID   *uuid.UUID `json:"salesperson_id,omitempty"`
	SalespersonName string     `json:"salesperson_name,omitempty"`
	ExpectedClose   string     `json:"expected_close,omitempty"` // YYYY-MM-DD
}

// Interaction is an earlier contact of the customer, in brief.
type Interaction struct {
	ContactID uuid.UUID   `json:"contact_id"`
	Channel   org.Channel `json:"channel"`
	State     string      `json:"state"`
	Subject   string      `json:"subject"`
	At        time.Time   `json:"at"`
	Snippet   string      `json:"snippet"` // start of the latest line
}

// Owner is the user who looks after a customer.
type Owner struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// HistoryLine is one line of a customer's recent history in the
// screen-pop: a message or a contact event, on any of their contacts.
type HistoryLine struct {
	Kind       string      `json:"kind"` // message, event
	ContactID  uuid.UUID   `json:"contact_id"`
	Channel    org.Channel `json:"channel"`
	At         time.Time   `json:"at"`
	AuthorKind string      `json:"author_kind,omitempty"` // message: customer, agent, system
	Text       string      `json:"text,omitempty"`        // message: its start
	Event      string      `json:"event,omitempty"`       // event: its kind (created, assigned, closed…)
}

// ScreenPop is what the console shows with an offer: who is calling and
// what is going on with them. Lists are never null, so the console needs no
// null checks; Customer is null when the contact has none (unknown, or
// several candidates), Owner when the customer has no owner.
type ScreenPop struct {
	Customer      *CustomerSummary  `json:"customer"`
	Candidates    []CustomerSummary `json:"candidates"`
	Identities    []Identity        `json:"identities"`
	Vehicles      []Vehicle         `json:"vehicles"`
	ServiceOrders []ServiceOrder    `json:"service_orders"`
	Deals         []Deal            `json:"deals"`
	Recent        []Interaction     `json:"recent"`
	Owner         *Owner            `json:"owner"`
	FollowUps     []FollowUp        `json:"follow_ups"` // open ones, soonest due first
	History       []HistoryLine     `json:"history"`    // the last historyLimit lines, newest first
}

const (
	recentLimit          = 20
	defaultTimelineLimit = 20
	// historyLimit lines of history come with a screen-pop. They are read
	// from the customer's historyContacts most recently started contacts,
	// at most historyLimit lines each, which bounds the work for a
	// customer with years of contacts.
	historyLimit    = 50
	historyContacts = 50
	// snippetLength is how much of a message a history line shows.
	snippetLength = 200
)

// screenPopQuery builds the whole screen-pop in one round trip: one row,
// one JSON column per part. Keys match the Go types' JSON tags. Every part
// is an index lookup by (tenant, customer) or (tenant, contact):
// customer_identities_lookup's sibling unique key, customer_vehicles' key,
// service_orders_customer_idx, deals_customer_idx, follow_ups_customer_idx,
// contacts_customer_idx, and messages' and contact_events' per-contact keys.
// The customer's last historyContacts contacts are read once (the lateral
// oc, as arrays) and shared by recent and history, which used to walk
// contacts_customer_idx three times: recent is the newest recentLimit of
// them other than this contact, so historyContacts must exceed recentLimit.
const screenPopQuery = `
SELECT
  CASE WHEN cu.id IS NULL THEN NULL ELSE
    json_build_object('id', cu.id, 'name', cu.name, 'kind', cu.kind, 'tier', cu.tier,
                      'language', cu.language, 'notes', cu.notes) END,
  (SELECT COALESCE(json_agg(json_build_object('id', k.id, 'name', k.name, 'kind', k.kind, 'tier', k.tier,
                                              'language', k.language, 'notes', k.notes) ORDER BY k.id), '[]')
   FROM customers k WHERE k.tenant_id = c.tenant_id AND k.id = ANY (c.candidates) AND k.deleted_at IS NULL),
  (SELECT COALESCE(json_agg(json_build_object('kind', i.kind, 'system', i.system, 'value', i.value)
                            ORDER BY i.kind, i.system, i.value), '[]')
   FROM customer_identities i WHERE i.tenant_id = c.tenant_id AND i.customer_id = cu.id),
  (SELECT COALESCE(json_agg(json_build_object('id', v.id, 'vin', v.vin, 'plate', v.plate, 'make', v.make,
                                              'model', v.model, 'year', v.year, 'mileage_km', v.mileage_km,
                                              'role', cv.role, 'open_orders', vo.orders) ORDER BY v.created_at, v.id), '[]')
   FROM customer_vehicles cv JOIN vehicles v ON v.tenant_id = cv.tenant_id AND v.id = cv.vehicle_id
   CROSS JOIN LATERAL (
     SELECT json_agg(json_build_object('id', o.id, 'number', o.number, 'kind', o.kind, 'status', o.status,
                                       'description', o.description, 'plate', v.plate, 'vehicle_id', o.vehicle_id,
                                       'promised_at', o.promised_at, 'amount', o.amount::text)
                     ORDER BY o.created_at DESC, o.id DESC) AS orders
     FROM service_orders o
     WHERE o.tenant_id = cv.tenant_id AND o.customer_id = cu.id AND o.vehicle_id = v.id AND o.status <> 'collected') vo
   WHERE cv.tenant_id = c.tenant_id AND cv.customer_id = cu.id),
  (SELECT COALESCE(json_agg(json_build_object('id', o.id, 'number', o.number, 'kind', o.kind, 'status', o.status,
                                              'description', o.description, 'plate', COALESCE(v.plate, ''),
                                              'vehicle_id', o.vehicle_id,
                                              'promised_at', o.promised_at, 'amount', o.amount::text)
                            ORDER BY o.created_at DESC, o.id DESC), '[]')
   FROM service_orders o LEFT JOIN vehicles v ON v.tenant_id = o.tenant_id AND v.id = o.vehicle_id
   WHERE o.tenant_id = c.tenant_id AND o.customer_id = cu.id AND o.status <> 'collected'),
  (SELECT COALESCE(json_agg(json_build_object('id', d.id, 'stage', d.stage, 'vehicle_desc', d.vehicle_desc,
                                              'value', d.value::text, 'salesperson_id', d.salesperson_id,
                                              'salesperson_name', COALESCE(u.display_name, ''),
                                              'expected_close', COALESCE(d.expected_close::text, ''))
                            ORDER BY d.created_at DESC, d.id DESC), '[]')
   FROM deals d LEFT JOIN users u ON u.tenant_id = d.tenant_id AND u.id = d.salesperson_id
   WHERE d.tenant_id = c.tenant_id AND d.customer_id = cu.id AND d.stage NOT IN ('won', 'lost')),
  (SELECT COALESCE(json_agg(r ORDER BY r.at DESC, r.contact_id DESC), '[]') FROM (
     SELECT o.id AS contact_id, o.channel, o.state, o.subject, o.at,
            COALESCE((SELECT left(regexp_replace(left(m.body, 400), '\s+', ' ', 'g'), 120)
                      FROM messages m WHERE m.tenant_id = c.tenant_id AND m.contact_id = o.id
                      ORDER BY m.seq DESC LIMIT 1), '') AS snippet
     FROM unnest(oc.ids, oc.channels, oc.states, oc.subjects, oc.ats) AS o(id, channel, state, subject, at)
     WHERE o.id <> c.id
     ORDER BY o.at DESC, o.id DESC
     LIMIT $3) r),
  (SELECT json_build_object('id', u.id, 'name', u.display_name)
   FROM users u WHERE u.tenant_id = cu.tenant_id AND u.id = cu.owner_id),
  (SELECT COALESCE(json_agg(json_build_object('id', f.id, 'customer_id', f.customer_id, 'contact_id', f.contact_id,
                                              'assigned_to', f.assigned_to, 'kind', f.kind, 'due_at', f.due_at,
                                              'done_at', f.done_at, 'note', f.note, 'created_by', f.created_by,
                                              'created_at', f.created_at) ORDER BY f.due_at, f.id), '[]')
   FROM follow_ups f WHERE f.tenant_id = c.tenant_id AND f.customer_id = cu.id AND f.done_at IS NULL),
  (SELECT COALESCE(json_agg(json_build_object('kind', h.kind, 'contact_id', h.contact_id, 'channel', h.channel,
                                              'at', h.at, 'author_kind', h.author_kind, 'text', h.text,
                                              'event', h.event) ORDER BY h.at DESC, h.kind, h.n DESC), '[]')
   FROM (
     SELECT x.* FROM (
       SELECT 'message' AS kind, o.id AS contact_id, o.channel, m.created_at AS at, m.author_kind,
              left(m.body, $5) AS text, '' AS event, m.seq::bigint AS n
       FROM unnest(oc.ids, oc.channels) AS o(id, channel)
       CROSS JOIN LATERAL (SELECT m.created_at, m.author_kind, m.body, m.seq FROM messages m
                           WHERE m.tenant_id = c.tenant_id AND m.contact_id = o.id
                           ORDER BY m.seq DESC LIMIT $4) m
       UNION ALL
       SELECT 'event', o.id, o.channel, e.at, '', '', e.kind, e.id
       FROM unnest(oc.ids, oc.channels) AS o(id, channel)
       CROSS JOIN LATERAL (SELECT e.at, e.kind, e.id FROM contact_events e
                           WHERE e.tenant_id = c.tenant_id AND e.contact_id = o.id
                           ORDER BY e.id DESC LIMIT $4) e) x
     ORDER BY x.at DESC, x.kind, x.n DESC
     LIMIT $4) h)
FROM contacts c
LEFT JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id AND cu.deleted_at IS NULL
LEFT JOIN LATERAL (
  SELECT array_agg(o.id) AS ids, array_agg(o.channel) AS channels, array_agg(o.state) AS states,
         array_agg(o.subject) AS subjects, array_agg(o.created_at) AS ats
  FROM (SELECT o.id, o.channel, o.state, o.subject, o.created_at FROM contacts o
        WHERE o.tenant_id = c.tenant_id AND o.customer_id = cu.id
        ORDER BY o.created_at DESC, o.id DESC
        LIMIT $6) o) oc ON true
WHERE c.tenant_id = $1 AND c.id = $2`

// screenPopArgs are screenPopQuery's arguments after tenant and contact.
func screenPopArgs(tenant, contactID uuid.UUID) []any {
	return []any{tenant, contactID, recentLimit, historyLimit, snippetLength, historyContacts}
}

// scanScreenPop reads screenPopQuery's row into p (also for ScreenPopFor's
// batch).
func scanScreenPop(r pgx.Row, p *ScreenPop) error {
	return r.Scan(&p.Customer, &p.Candidates, &p.Identities, &p.Vehicles, &p.ServiceOrders, &p.Deals, &p.Recent,
		&p.Owner, &p.FollowUps, &p.History)
}

// ScreenPop gathers what the console shows for a contact, in one round
// trip: its customer (or the candidates), identities, vehicles with their
// open orders, open service orders (newest first), open deals, the owner,
// open follow-ups, the customer's last interactions on every channel except
// this contact, and the last lines of their history (messages and events).
func (s *Store) ScreenPop(ctx context.Context, tenant, contactID uuid.UUID) (ScreenPop, error) {
	var p ScreenPop
	err := scanScreenPop(s.pool.QueryRow(ctx, screenPopQuery, screenPopArgs(tenant, contactID)...), &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return ScreenPop{}, fmt.Errorf("screen-pop of %s: %w", contactID, ErrNotFound)
	} else if err != nil {
		return ScreenPop{}, fmt.Errorf("screen-pop of %s: %w", contactID, err)
	}
	return p, nil
}

// Customer returns a customer of tenant (not deleted).
func (s *Store) Customer(ctx context.Context, tenant, id uuid.UUID) (CustomerSummary, error) {
	var c CustomerSummary
	err := s.pool.QueryRow(ctx, `
		SELECT id, name, kind, tier, language, notes FROM customers
		WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`, tenant, id).Scan(
		&c.ID, &c.Name, &c.Kind, &c.Tier, &c.Language, &c.Notes)
	if errors.Is(err, pgx.ErrNoRows) {
		return CustomerSummary{}, fmt.Errorf("customer %s: %w", id, ErrNotFound)
	} else if err != nil {
		return CustomerSummary{}, fmt.Errorf("customer %s: %w", id, err)
	}
	return c, nil
}

// TimelineItem is one entry of a customer's history.
type TimelineItem struct {
	Kind      string      `json:"kind"` // "contact"; later also orders, deals, follow-ups
	ContactID uuid.UUID   `json:"contact_id"`
	Channel   org.Channel `json:"channel"`
	State     string      `json:"state"`
	Subject   string      `json:"subject"`
	At        time.Time   `json:"at"`
	WrapUp    string      `json:"wrap_up,omitempty"`
	Messages  []Message   `json:"messages"`
	// Call is a voice contact's call record, when a connector carried it.
	Call *CallRecord `json:"call,omitempty"`
}

// Timeline returns a customer's contacts with their messages, newest first,
// started before before (zero: now), on channel only when it is set;
// limit is clamped to 1..100, and 0 or less (a caller that did not say)
// means 20. Page on by passing the last item's At as before.
func (s *Store) Timeline(ctx context.Context, tenant, customerID uuid.UUID, before time.Time, limit int, channel org.Channel) ([]TimelineItem, error) {
	if limit <= 0 {
		limit = defaultTimelineLimit
	}
	limit = min(limit, 100)
	if _, err := s.Customer(ctx, tenant, customerID); err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, channel, state, subject, created_at, wrap_up FROM contacts
		WHERE tenant_id = $1 AND customer_id = $2 AND created_at < COALESCE($3, now()) AND ($5 = '' OR channel = $5)
		ORDER BY created_at DESC, id DESC
		LIMIT $4`, tenant, customerID, nullTime(before), limit, string(channel))
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", customerID, err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TimelineItem, error) {
		it := TimelineItem{Kind: "contact", Messages: []Message{}}
		return it, r.Scan(&it.ContactID, &it.Channel, &it.State, &it.Subject, &it.At, &it.WrapUp)
	})
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", customerID, err)
	}
	if len(items) == 0 {
		return items, nil
	}
	index := make(map[uuid.UUID]int, len(items))
	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		index[it.ContactID], ids[i] = i, it.ContactID
	}
	rows, err = s.pool.Query(ctx, messageSelect+`
		WHERE m.tenant_id = $1 AND m.contact_id = ANY ($2) ORDER BY m.contact_id, m.seq`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: messages: %w", customerID, err)
	}
	ms, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: messages: %w", customerID, err)
	}
	for _, m := range ms {
		i := index[m.ContactID]
		items[i].Messages = append(items[i].Messages, m)
	}
	var voice []uuid.UUID
	for _, it := range items {
		if it.Channel == org.Voice {
			voice = append(voice, it.ContactID)
		}
	}
	if len(voice) > 0 {
		records, err := callRecords(ctx, s.pool, tenant, voice)
		if err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", customerID, err)
		}
		for id, r := range records {
			items[index[id]].Call = &r
		}
	}
	return items, nil
}
