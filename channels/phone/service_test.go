package phone_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/channels/phone"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

// The telephony and routing's engine do not run in these tests; their
// stand-ins record what the hotline told them. PostgreSQL is real.

type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.log, s)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.log)
}

type router struct{ *recorder }

func (router) Notification(uuid.UUID, crm.InboundResult) (string, string) { return "test_channel", "x" }
func (r router) Cancel(_ context.Context, _, contact uuid.UUID) error {
	r.add("cancel %s", contact)
	return nil
}
func (r router) Release(_ context.Context, _, agent, contact uuid.UUID, requeue bool) error {
	r.add("release %s %s %v", agent, contact, requeue)
	return nil
}
func (r router) WrapUp(_ context.Context, _, agent, contact uuid.UUID, _ time.Time) error {
	r.add("wrap_up %s %s", agent, contact)
	return nil
}
func (r router) Missed(_ context.Context, _, agent uuid.UUID) error {
	r.add("missed %s", agent)
	return nil
}
func (r router) Taken(_ context.Context, _, agent, contact uuid.UUID) error {
	r.add("taken %s %s", agent, contact)
	return nil
}

type desk struct{ *recorder }

func (d desk) CallRinging(_ context.Context, _, agent, contact uuid.UUID) {
	d.add("ringing %s %s", agent, contact)
}
func (d desk) CallAssigned(_ context.Context, _, agent, contact uuid.UUID) {
	d.add("assigned %s %s", agent, contact)
}
func (d desk) CallWithdrawn(_ context.Context, _, agent, contact uuid.UUID, reason string) {
	d.add("withdrawn %s %s %s", agent, contact, reason)
}
func (d desk) CallEnded(_ context.Context, _, agent uuid.UUID, k crm.Call, until *time.Time) {
	d.add("ended %s %s %v", agent, k.ContactID, until != nil)
}
func (d desk) CallState(_ context.Context, _ uuid.UUID, k crm.Call) {
	d.add("state %s %s", k.ContactID, k.State)
}

type controller struct {
	*recorder
	fail error
}

func (c *controller) Connect(_ context.Context, _ phone.Connector, call phone.Call, a phone.Agent, key string) error {
	c.add("connect %s %s %s", call.CallID, a.Extension, key)
	return c.fail
}
func (c *controller) Cancel(_ context.Context, _ phone.Connector, call phone.Call, a phone.Agent, key string) error {
	c.add("cancel %s %s", call.CallID, a.Extension)
	return nil
}

type fixture struct {
	t                             *testing.T
	pool                          *pgxpool.Pool
	orgs                          *org.Store
	people                        *crm.Store
	svc                           *phone.Service
	conn, observer                phone.Connector
	tenant, site                  uuid.UUID
	enquiries, sales, service     uuid.UUID
	advisor, other                uuid.UUID
	routed, told, telephony       *recorder
	ctl                           *controller
	repairCustomer, readyCustomer uuid.UUID
}

const hotline = "+862160001000"

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	sealer, err := org.NewSealer([]byte("test-secret-0123456789"), "phone")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, pool: pool, orgs: org.NewStore(pool, org.WithSealer(sealer)), people: crm.NewStore(pool),
		tenant: uuid.New(), site: uuid.New(), enquiries: uuid.New(), sales: uuid.New(), service: uuid.New(),
		advisor: uuid.New(), other: uuid.New(), routed: &recorder{}, told: &recorder{}, telephony: &recorder{}}
	f.ctl = &controller{recorder: f.telephony}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("fixture %q: %v", sql, err)
		}
	}
	exec(`INSERT INTO tenants (id, name) VALUES ($1, 'Dealer group')`, f.tenant)
	exec(`INSERT INTO sites (id, tenant_id, name, area_code, chat_key) VALUES ($1, $2, 'Pudong', '21', $3)`, f.site, f.tenant, "k-"+f.site.String())
	for name, id := range map[string]uuid.UUID{"Enquiries": f.enquiries, "Sales": f.sales, "Service": f.service} {
		exec(`INSERT INTO queues (id, tenant_id, site_id, name, wrap_up_seconds) VALUES ($1, $2, $3, $4, 30)`, id, f.tenant, f.site, name)
	}
	exec(`INSERT INTO routing_lease (tenant_id, holder, epoch, expires_at) VALUES ($1, 'node-1', 1, now() + interval '1 hour')`, f.tenant)
	for i, a := range []uuid.UUID{f.advisor, f.other} {
		exec(`INSERT INTO users (id, tenant_id, site_id, email, display_name, password_hash, role) VALUES ($1, $2, $3, $4, $5, 'x', 'agent')`,
			a, f.tenant, f.site, fmt.Sprintf("agent%d@example.com", i), fmt.Sprintf("Agent %d", i))
		exec(`INSERT INTO agents (id, tenant_id) VALUES ($1, $2)`, a, f.tenant)
	}
	admin := f.advisor // any user may stand for the admin here
	mk := func(mode string) phone.Connector {
		pc, _, err := f.orgs.CreatePhoneConnector(ctx, f.tenant, admin, org.PhoneConnectorSettings{Name: "PBX " + mode, Kind: "generic",
			Mode: mode, Secret: "0123456789abcdef0123", CallbackURL: "https://pbx.example.com/switchboard"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.orgs.SetPhoneNumber(ctx, f.tenant, admin, org.PhoneNumber{ConnectorID: pc.ID, Number: hotline, SiteID: f.site,
			QueueID: f.enquiries, Language: "en", Menu: []org.PhoneMenuOption{
				{Digit: "1", Department: "enquiries", QueueID: f.enquiries},
				{Digit: "2", Department: "sales", QueueID: f.sales},
				{Digit: "3", Department: "service", QueueID: f.service}}}); err != nil {
			t.Fatal(err)
		}
		for i, a := range []uuid.UUID{f.advisor, f.other} {
			if err := f.orgs.SetAgentPhone(ctx, f.tenant, admin, org.AgentPhone{AgentID: a, ConnectorID: pc.ID,
				Extension: fmt.Sprintf("10%02d", i+1)}); err != nil {
				t.Fatal(err)
			}
		}
		full, err := f.orgs.PhoneConnector(ctx, pc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return phone.ConnectorOf(full)
	}
	f.conn, f.observer = mk("control"), mk("observe")

	// A customer whose car is in the workshop (advised by f.advisor), and
	// one whose car is ready.
	var err2 error
	f.repairCustomer, err2 = f.people.CreateCustomer(ctx, f.tenant, crm.NewCustomer{Name: "Wang Wei",
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+8613800138000"}}})
	if err2 != nil {
		t.Fatal(err2)
	}
	if _, err := f.people.AddServiceOrder(ctx, f.tenant, f.repairCustomer, crm.NewServiceOrder{Number: "SO-1", Status: "in_progress", AdvisorID: f.advisor}); err != nil {
		t.Fatal(err)
	}
	f.readyCustomer, err2 = f.people.CreateCustomer(ctx, f.tenant, crm.NewCustomer{Name: "Li Na",
		Identities: []crm.Identity{{Kind: crm.KindPhone, Value: "+8613900139000"}}})
	if err2 != nil {
		t.Fatal(err2)
	}
	if _, err := f.people.AddServiceOrder(ctx, f.tenant, f.readyCustomer, crm.NewServiceOrder{Number: "SO-2", Status: "ready"}); err != nil {
		t.Fatal(err)
	}
	f.svc = phone.NewService(phone.Config{RingTimeout: time.Second, SweepInterval: 50 * time.Millisecond}, f.people, f.orgs,
		router{f.routed}, desk{f.told}, func(string) phone.Controller { return f.ctl }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return f
}

func (f *fixture) incoming(c phone.Connector, callID, from string) phone.Route {
	f.t.Helper()
	r, err := f.svc.Incoming(context.Background(), c, phone.Event{CallID: callID, EventID: callID + ":new", Kind: phone.Ringing,
		From: from, To: "021-6000-1000", Direction: phone.Inbound})
	if err != nil {
		f.t.Fatalf("incoming %s: %v", callID, err)
	}
	return r
}

func (f *fixture) handle(c phone.Connector, ev phone.Event) {
	f.t.Helper()
	if ev.EventID == "" {
		ev.EventID = fmt.Sprintf("%s:%s:%s", ev.CallID, ev.Kind, ev.Extension)
	}
	if err := f.svc.Handle(context.Background(), c, ev); err != nil {
		f.t.Fatalf("handle %s %s: %v", ev.CallID, ev.Kind, err)
	}
}

func (f *fixture) one(sql string, args ...any) string {
	f.t.Helper()
	var s string
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&s); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// accept stands in for routing's accept: the fenced assignment.
func (f *fixture) accept(contact, agent uuid.UUID) uuid.UUID {
	f.t.Helper()
	offer := uuid.New()
	if err := f.people.Assign(context.Background(), crm.Assignment{TenantID: f.tenant, ContactID: contact, AgentID: agent,
		OfferID: offer, Epoch: 1, Holder: "node-1"}); err != nil {
		f.t.Fatal(err)
	}
	return offer
}

func TestKnownCallerSkipsTheMenuToTheirAdvisor(t *testing.T) {
	f := setup(t)
	r := f.incoming(f.conn, "CA1", "13800138000") // national form: the same customer
	if r.Action != phone.ActionQueue || r.QueueID != f.service || r.ContactID == uuid.Nil {
		t.Fatalf("route = %+v, want straight to Service", r)
	}
	if got := f.one(`SELECT customer_id::text FROM contacts WHERE id = $1`, r.ContactID); got != f.repairCustomer.String() {
		t.Errorf("contact's customer = %s, want %s", got, f.repairCustomer)
	}
	if got := f.one(`SELECT preferred_agents::text FROM contacts WHERE id = $1`, r.ContactID); got != "{"+f.advisor.String()+"}" {
		t.Errorf("preferred agents = %s, want the advisor", got)
	}
	// The connector asks again (a retried webhook): the same answer, one contact.
	again := f.incoming(f.conn, "CA1", "13800138000")
	if again.ContactID != r.ContactID || again.Action != phone.ActionQueue {
		t.Errorf("repeat = %+v, want the same contact queued", again)
	}
	if n := f.one(`SELECT count(*)::text FROM contacts WHERE tenant_id = $1`, f.tenant); n != "1" {
		t.Errorf("%s contacts after a repeated new call, want 1", n)
	}
}

func TestReadyCarIsAnnouncedAndTheMenuStillOffered(t *testing.T) {
	f := setup(t)
	r := f.incoming(f.conn, "CA2", "+86 139 0013 9000")
	if r.Action != phone.ActionMenu || len(r.Menu) != 3 || len(r.Say) != 1 || r.Say[0][:9] != "Good news" {
		t.Fatalf("route = %+v, want the ready message and the menu", r)
	}
	if r.Menu[2].Digit != "3" || r.Menu[2].Label != "service and repairs" {
		t.Errorf("menu[2] = %+v", r.Menu[2])
	}
	c, err := f.svc.Choose(context.Background(), f.conn, "CA2", "3")
	if err != nil || c.Action != phone.ActionQueue || c.QueueID != f.service {
		t.Fatalf("choose 3 = %+v, %v; want the Service queue", c, err)
	}
}

func TestMenuChoiceInvalidDigitsAndGivingUp(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	r := f.incoming(f.conn, "CA3", "+8613700137000") // a new caller
	if r.Action != phone.ActionMenu || r.ContactID != uuid.Nil {
		t.Fatalf("route = %+v, want the menu and no contact yet", r)
	}
	bad, err := f.svc.Choose(ctx, f.conn, "CA3", "9")
	if err != nil || bad.Action != phone.ActionMenu || len(bad.Say) != 1 {
		t.Fatalf("digit 9 = %+v, %v; want the menu again with an apology", bad, err)
	}
	good, err := f.svc.Choose(ctx, f.conn, "CA3", "2")
	if err != nil || good.Action != phone.ActionQueue || good.QueueID != f.sales {
		t.Fatalf("digit 2 = %+v, %v; want Sales", good, err)
	}
	// A caller who never chooses ends in the number's own queue, and so
	// does one who keeps pressing keys that are no option.
	f.incoming(f.conn, "CA4", "+8613600136000")
	if again := f.incoming(f.conn, "CA4", "+8613600136000"); again.Action != phone.ActionMenu {
		t.Errorf("the telephony asking again about a caller in the menu: %+v, want the menu", again)
	}
	if silent, err := f.svc.Choose(ctx, f.conn, "CA4", ""); err != nil || silent.Action != phone.ActionQueue || silent.QueueID != f.enquiries {
		t.Errorf("no key: %+v, %v; want Enquiries", silent, err)
	}
	f.incoming(f.conn, "CA10", "+8613500135000")
	var last phone.Route
	for i := range 3 {
		if last, err = f.svc.Choose(ctx, f.conn, "CA10", "7"); err != nil {
			t.Fatal(err)
		}
		if i < 1 && last.Action != phone.ActionMenu {
			t.Errorf("wrong key %d: %+v, want the menu again", i+1, last)
		}
	}
	if last.Action != phone.ActionQueue || last.QueueID != f.enquiries {
		t.Errorf("after three plays with wrong keys: %+v, want Enquiries", last)
	}
	if _, err := f.svc.Choose(ctx, f.conn, "nope", "1"); err != phone.ErrUnknownCall {
		t.Errorf("unknown call: %v, want ErrUnknownCall", err)
	}
}

func TestMissedCallsBecomeCallbacks(t *testing.T) {
	f := setup(t)
	// Hung up in the menu: still a missed call of the number's queue.
	f.incoming(f.conn, "CA5", "+8613700137000")
	f.handle(f.conn, phone.Event{CallID: "CA5", Kind: phone.Ended, Cause: phone.CauseNormal})
	// Hung up while waiting: routing is told to drop it.
	r := f.incoming(f.conn, "CA6", "13800138000")
	f.handle(f.conn, phone.Event{CallID: "CA6", Kind: phone.Ended, Cause: phone.CauseNormal})
	f.handle(f.conn, phone.Event{CallID: "CA6", Kind: phone.Ended, Cause: phone.CauseNormal}) // repeated
	if !f.routed.has("cancel " + r.ContactID.String()) {
		t.Errorf("routing not told to cancel: %s", f.routed)
	}
	if got := f.one(`SELECT string_agg(c.state || '/' || k.cause, ',' ORDER BY k.call_id) FROM calls k JOIN contacts c ON c.id = k.contact_id
		WHERE k.call_id IN ('CA5', 'CA6')`); got != "abandoned/abandoned,abandoned/abandoned" {
		t.Errorf("contacts/causes = %s", got)
	}
	if got := f.one(`SELECT count(*)::text FROM callbacks WHERE tenant_id = $1 AND state = 'scheduled'`, f.tenant); got != "2" {
		t.Errorf("%s callbacks, want one per missed call", got)
	}
	if got := f.one(`SELECT phone FROM callbacks WHERE origin_contact_id = $1`, r.ContactID); got != "+8613800138000" {
		t.Errorf("callback phone = %s, want the number that called", got)
	}
}

func TestAcceptedCallRingsTheAgentTalksHoldsAndWrapsUp(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	r := f.incoming(f.conn, "CA7", "13800138000")
	offer := f.accept(r.ContactID, f.advisor)
	if err := f.svc.Connect(ctx, f.tenant, r.ContactID, f.advisor, offer.String()); err != nil {
		t.Fatal(err)
	}
	if !f.telephony.has("connect CA7 1001 " + offer.String()) {
		t.Fatalf("telephony was told %s, want a connect to 1001", f.telephony)
	}
	// A second connect for the same agent under another key (a sweep on
	// another node racing this one) must not ring the phone twice.
	if err := f.svc.Connect(ctx, f.tenant, r.ContactID, f.advisor, "sweep:other-node"); err != nil {
		t.Fatal(err)
	}
	if f.telephony.has("connect CA7 1001 sweep:other-node") {
		t.Errorf("a second key rang the agent again: %s", f.telephony)
	}
	if got := f.one(`SELECT state FROM calls WHERE call_id = 'CA7'`); got != "connecting" {
		t.Errorf("call state = %s, want connecting", got)
	}
	t0 := time.Now()
	f.handle(f.conn, phone.Event{CallID: "CA7", Kind: phone.Answered, Extension: "1001", At: t0})
	f.handle(f.conn, phone.Event{CallID: "CA7", Kind: phone.Held, At: t0.Add(10 * time.Second)})
	f.handle(f.conn, phone.Event{CallID: "CA7", Kind: phone.Unheld, At: t0.Add(25 * time.Second)})
	f.handle(f.conn, phone.Event{CallID: "CA7", Kind: phone.Recording, RecordingURL: "https://pbx.example.com/rec/CA7.wav"})
	f.handle(f.conn, phone.Event{CallID: "CA7", Kind: phone.Ended, Cause: phone.CauseNormal, At: t0.Add(60 * time.Second)})
	got := f.one(`SELECT k.state || ' ' || k.cause || ' ' || k.hold_seconds::int || ' ' || c.state || ' ' || (k.recording_url <> '')::text
		FROM calls k JOIN contacts c ON c.id = k.contact_id WHERE k.call_id = 'CA7'`)
	if got != "ended normal 15 closed true" {
		t.Errorf("call = %q, want ended normal, 15 s on hold, contact closed, recording kept", got)
	}
	if !f.routed.has(fmt.Sprintf("wrap_up %s %s", f.advisor, r.ContactID)) || !f.told.has(fmt.Sprintf("ended %s %s true", f.advisor, r.ContactID)) {
		t.Errorf("wrap-up not started: routing %s, desk %s", f.routed, f.told)
	}
	if n := f.one(`SELECT count(*)::text FROM contact_events WHERE contact_id = $1 AND kind = 'call_answered'`, r.ContactID); n != "1" {
		t.Errorf("%s call_answered events, want 1", n)
	}
}

func TestAgentWhosePhoneDoesNotAnswerMissesTheOffer(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	r := f.incoming(f.conn, "CA8", "13800138000")
	arrived := f.one(`SELECT arrived_at::text FROM contacts WHERE id = $1`, r.ContactID)
	offer := f.accept(r.ContactID, f.advisor)
	if err := f.svc.Connect(ctx, f.tenant, r.ContactID, f.advisor, offer.String()); err != nil {
		t.Fatal(err)
	}
	f.handle(f.conn, phone.Event{CallID: "CA8", Kind: phone.Ended, Extension: "1001", Cause: phone.CauseNoAnswer})
	if got := f.one(`SELECT state || ' ' || arrived_at::text FROM contacts WHERE id = $1`, r.ContactID); got != "queued "+arrived {
		t.Errorf("contact = %s, want queued again with its age", got)
	}
	for _, want := range []string{fmt.Sprintf("release %s %s true", f.advisor, r.ContactID), "missed " + f.advisor.String()} {
		if !f.routed.has(want) {
			t.Errorf("routing not told %q: %s", want, f.routed)
		}
	}
	if !f.told.has(fmt.Sprintf("withdrawn %s %s phone_not_answered", f.advisor, r.ContactID)) {
		t.Errorf("console not told: %s", f.told)
	}
	// The next agent takes it; a ring past the timeout is cancelled at the
	// telephony and the call waits again.
	offer2 := f.accept(r.ContactID, f.other)
	if err := f.svc.Connect(ctx, f.tenant, r.ContactID, f.other, offer2.String()); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.svc.Run(sctx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for f.one(`SELECT state FROM contacts WHERE id = $1`, r.ContactID) != "queued" {
		if time.Now().After(deadline) {
			t.Fatalf("ring timeout never gave up on the second agent: %s", f.telephony)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if !f.telephony.has("cancel CA8 1002") || !f.routed.has("missed "+f.other.String()) {
		t.Errorf("ring timeout: telephony %s, routing %s", f.telephony, f.routed)
	}
}

func TestObservedCallPopsRingsAssignsOnAnswer(t *testing.T) {
	f := setup(t)
	r := f.incoming(f.observer, "OB1", "13800138000")
	if r.Action != phone.ActionQueue {
		t.Fatalf("observe route = %+v", r)
	}
	f.handle(f.observer, phone.Event{CallID: "OB1", Kind: phone.Ringing, Extension: "1002"})
	k, err := f.people.CallByExternal(context.Background(), f.tenant, f.observer.ID, "OB1")
	if err != nil || k.ContactID == uuid.Nil || k.ContactState != "active" {
		t.Fatalf("observed call = %+v, %v; want an active contact from the first ring", k, err)
	}
	if !f.told.has(fmt.Sprintf("ringing %s %s", f.other, k.ContactID)) {
		t.Errorf("no screen-pop on the ringing extension's console: %s", f.told)
	}
	f.handle(f.observer, phone.Event{CallID: "OB1", Kind: phone.Answered, Extension: "1002"})
	if !f.told.has(fmt.Sprintf("assigned %s %s", f.other, k.ContactID)) {
		t.Errorf("answer did not open the contact: %s", f.told)
	}
	if !f.routed.has(fmt.Sprintf("taken %s %s", f.other, k.ContactID)) {
		t.Errorf("routing not told the agent is on a call: %s", f.routed)
	}
	// The PBX transfers it to 1001, who answers: the contact moves.
	f.handle(f.observer, phone.Event{CallID: "OB1", Kind: phone.Transferred, Target: "1001"})
	f.handle(f.observer, phone.Event{CallID: "OB1", Kind: phone.Answered, Extension: "1001"})
	if !f.told.has(fmt.Sprintf("withdrawn %s %s transferred", f.other, k.ContactID)) || !f.told.has(fmt.Sprintf("assigned %s %s", f.advisor, k.ContactID)) {
		t.Errorf("transfer at the PBX: %s", f.told)
	}
	if !f.routed.has(fmt.Sprintf("release %s %s false", f.other, k.ContactID)) || !f.routed.has(fmt.Sprintf("taken %s %s", f.advisor, k.ContactID)) {
		t.Errorf("transfer at the PBX: routing told %s", f.routed)
	}
	f.handle(f.observer, phone.Event{CallID: "OB1", Kind: phone.Ended, Cause: phone.CauseNormal})
	if got := f.one(`SELECT string_agg(agent_id::text || ':' || COALESCE(end_reason, 'open') || ':' || (wrap_up_at IS NOT NULL)::text, ',' ORDER BY started_at)
		FROM assignments WHERE contact_id = $1`, k.ContactID); got != fmt.Sprintf("%s:transferred:false,%s:open:true", f.other, f.advisor) {
		t.Errorf("assignments = %s", got)
	}
	if n := f.one(`SELECT count(*)::text FROM contact_events WHERE contact_id = $1 AND kind = 'call_answered'`, k.ContactID); n != "2" {
		t.Errorf("%s call_answered events, want one per agent who answered", n)
	}
}

func TestEventsForUnknownCallsAndBadEvents(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	if err := f.svc.Handle(ctx, f.conn, phone.Event{CallID: "ghost", EventID: "e1", Kind: phone.Answered}); err != phone.ErrUnknownCall {
		t.Errorf("unknown call: %v", err)
	}
	if err := f.svc.Handle(ctx, f.conn, phone.Event{CallID: "x", EventID: "e2", Kind: "exploded"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
	if _, err := f.svc.Incoming(ctx, f.conn, phone.Event{CallID: "CA9", EventID: "n", Kind: phone.Ringing, From: "1", To: "+4420700000"}); err == nil {
		// The connector's number has a catch-all? No: this one has none.
		t.Error("a call to a number the hotline does not have was accepted")
	}
}
