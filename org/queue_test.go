package org_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

var strategies = []string{"longest_idle", "round_robin"}

// adminBundle is a tenant with an agent, an admin and two queues, and the
// pool for reading the audit log directly.
type adminBundle struct {
	bundle
	pool          *pgxpool.Pool
	admin         org.User
	sales, second org.Queue
}

func setupAdmin(t *testing.T) adminBundle {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	b := adminBundle{bundle: setupOn(t, org.NewStore(pool), "a"), pool: pool}
	var err error
	b.admin, err = b.store.CreateUser(ctx, org.NewUser{TenantID: b.tenant.ID, Email: "admin@a.example", DisplayName: "Admin", Password: "correct horse", Role: org.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if b.sales, err = b.store.CreateQueue(ctx, org.Queue{TenantID: b.tenant.ID, Name: "Sales"}); err != nil {
		t.Fatal(err)
	}
	if b.second, err = b.store.CreateQueue(ctx, org.Queue{TenantID: b.tenant.ID, Name: "Second line"}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b adminBundle) auditCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }

func serviceCalendar() *org.Calendar {
	day := []org.Span{{Start: 8 * 60, End: 18 * 60}}
	return &org.Calendar{
		Zone: "Asia/Shanghai",
		Weekly: map[time.Weekday][]org.Span{
			time.Monday: day, time.Tuesday: day, time.Wednesday: day, time.Thursday: day, time.Friday: day,
			time.Saturday: {{Start: 8 * 60, End: 12 * 60}, {Start: 22 * 60, End: 2 * 60}},
		},
		Exceptions: []org.Exception{{Date: "2026-10-01"}, {Date: "2026-09-27", Spans: day}},
	}
}

// TestUpdateQueueRoundTripsEverySetting: every setting an admin can change
// is stored and read back as given, by Queues and by Queue, and the change
// is in the audit log under the admin's name.
func TestUpdateQueueRoundTripsEverySetting(t *testing.T) {
	b := setupAdmin(t)
	ctx := context.Background()
	set := org.QueueSettings{
		Strategy: ptr("round_robin"), Priority: ptr(3), Skills: map[string]int{"sales": 2},
		SLA: ptr(30 * time.Second), OfferTimeout: ptr(15 * time.Second), WrapUp: ptr(45 * time.Second),
		Calendar:     serviceCalendar(),
		ClosedAction: ptr(org.ActionMessage), ClosedMessage: ptr("We open at 08:00."),
		MaxWait: ptr(5 * time.Minute), OverflowQueueID: ptr(b.second.ID),
		WidenAfter: ptr(90 * time.Second), WidenedSkills: map[string]int{"sales": 1, "enquiries": 3},
		MaxLength:  ptr(25),
		AgeingStep: ptr(time.Minute), AgeingMax: ptr(5),
		PreferWindow: ptr(40 * time.Second), AutoCallback: ptr(true),
	}
	got, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, set, strategies)
	if err != nil {
		t.Fatal(err)
	}
	want := org.Queue{
		ID: b.sales.ID, TenantID: b.tenant.ID, Name: "Sales", Strategy: "round_robin", Priority: 3, Skills: map[string]int{"sales": 2},
		Zone: b.tenant.DefaultZone, // a group-wide queue counts its day in the tenant's zone
		SLA:  30 * time.Second, OfferTimeout: 15 * time.Second, WrapUp: 45 * time.Second,
		Calendar: serviceCalendar(), ClosedAction: org.ActionMessage, ClosedMessage: "We open at 08:00.",
		MaxWait: 5 * time.Minute, OverflowQueueID: b.second.ID,
		WidenAfter: 90 * time.Second, WidenedSkills: map[string]int{"sales": 1, "enquiries": 3}, MaxLength: 25,
		AgeingStep: time.Minute, AgeingMax: 5, PreferWindow: 40 * time.Second, AutoCallback: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateQueue returned (-want +got):\n%s", diff)
	}
	read, err := b.store.Queue(ctx, b.tenant.ID, b.sales.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, read); diff != "" {
		t.Errorf("Queue after UpdateQueue (-want +got):\n%s", diff)
	}
	all, err := b.store.Queues(ctx, b.tenant.ID)
	if err != nil || len(all) != 2 || !cmp.Equal(all[0], want) {
		t.Errorf("Queues = %+v, %v; want Sales as updated first", all, err)
	}

	// Nil settings stay; pointers to zero values clear.
	got, err = b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{
		Calendar: &org.Calendar{}, OverflowQueueID: ptr(uuid.Nil), MaxLength: ptr(0), WidenedSkills: map[string]int{},
		ClosedAction: ptr(org.ActionWait),
	}, strategies)
	if err != nil {
		t.Fatal(err)
	}
	want.Calendar, want.OverflowQueueID, want.MaxLength, want.WidenedSkills, want.ClosedAction = nil, uuid.Nil, 0, map[string]int{}, org.ActionWait
	if read, _ := b.store.Queue(ctx, b.tenant.ID, b.sales.ID); !cmp.Equal(want, got) || !cmp.Equal(want, read) {
		t.Errorf("after clearing: returned %s\nread %s", cmp.Diff(want, got), cmp.Diff(want, read))
	}

	log, err := b.store.AuditLog(ctx, b.tenant.ID, 0, 10)
	if err != nil || len(log) != 2 {
		t.Fatalf("AuditLog = %v, %v; want the two updates", log, err)
	}
	first := log[1]
	if first.ActorID != b.admin.ID || first.Action != "queue.update" || first.TargetKind != "queue" || first.TargetID != b.sales.ID {
		t.Errorf("audit entry = %+v, want queue.update of Sales by the admin", first)
	}
	if first.Data["max_length"] != float64(25) || first.Data["overflow_queue_id"] != b.second.ID.String() ||
		first.Data["closed_message_changed"] != true || first.Data["closed_message"] != nil {
		t.Errorf("audit data = %v, want the new values, and no closed message text", first.Data)
	}
	if log[0].Data["calendar"] != nil || log[0].Data["overflow_queue_id"] != nil || len(log[0].Data) != 5 {
		t.Errorf("audit data of the clearing = %v, want the five cleared settings as null/zero", log[0].Data)
	}
}

// TestCreateQueueStoresEverySetting: a queue created with routing
// settings reads back with them; an empty calendar zone takes the
// tenant's default zone.
func TestCreateQueueStoresEverySetting(t *testing.T) {
	b := setupAdmin(t)
	ctx := context.Background()
	cal := serviceCalendar()
	cal.Zone = ""
	q := org.Queue{TenantID: b.tenant.ID, Name: "Service", Skills: map[string]int{"service": 1}, Calendar: cal,
		ClosedAction: org.ActionCallback, MaxWait: time.Hour, OverflowQueueID: b.sales.ID, WidenAfter: time.Minute,
		WidenedSkills: map[string]int{"service": 1}, MaxLength: 10, AgeingStep: 30 * time.Second, AgeingMax: 2,
		PreferWindow: 20 * time.Second, AutoCallback: true}
	created, err := b.store.CreateQueue(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	read, err := b.store.Queue(ctx, b.tenant.ID, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Calendar == nil || read.Calendar.Zone != "Asia/Shanghai" {
		t.Errorf("calendar read back = %+v, want the tenant's zone Asia/Shanghai filled in", read.Calendar)
	}
	if diff := cmp.Diff(created, read); diff != "" {
		t.Errorf("Queue after CreateQueue (-created +read):\n%s", diff)
	}
	if _, err := b.store.CreateQueue(ctx, org.Queue{TenantID: b.tenant.ID, Name: "Bad", MaxLength: -1}); !errors.Is(err, org.ErrInvalid) {
		t.Errorf("CreateQueue(max length -1) = %v, want ErrInvalid", err)
	}
}

// TestUpdateQueueRefusesBadSettings: each unacceptable value is refused
// with a message naming it, nothing changes and nothing is audited.
func TestUpdateQueueRefusesBadSettings(t *testing.T) {
	b := setupAdmin(t)
	other := setupOn(t, b.store, "b")
	ctx := context.Background()
	theirs, err := b.store.CreateQueue(ctx, org.Queue{TenantID: other.tenant.ID, Name: "Theirs"})
	if err != nil {
		t.Fatal(err)
	}
	// Second overflows into Sales, so Sales may not overflow into Second.
	if _, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.second.ID, b.admin.ID, org.QueueSettings{OverflowQueueID: ptr(b.sales.ID)}, strategies); err != nil {
		t.Fatal(err)
	}
	before, _ := b.store.Queue(ctx, b.tenant.ID, b.sales.ID)
	audited := b.auditCount(t)
	badCal := serviceCalendar()
	badCal.Zone = "Mars/Olympus"
	badSpan := serviceCalendar()
	badSpan.Weekly[time.Sunday] = []org.Span{{Start: 9 * 60, End: 9 * 60}}
	twice := serviceCalendar()
	twice.Exceptions = append(twice.Exceptions, org.Exception{Date: "2026-10-01"})
	for _, tc := range []struct {
		name string
		set  org.QueueSettings
		want error
		msg  string
	}{
		{"unknown strategy", org.QueueSettings{Strategy: ptr("coin_flip")}, org.ErrInvalid, "strategy"},
		{"unknown closed action", org.QueueSettings{ClosedAction: ptr(org.ClosedAction("hang_up"))}, org.ErrInvalid, "closed action"},
		{"message action without a message", org.QueueSettings{ClosedAction: ptr(org.ActionMessage)}, org.ErrInvalid, "closed message"},
		{"closed message too long", org.QueueSettings{ClosedMessage: ptr(strings.Repeat("x", 1001))}, org.ErrInvalid, "closed message"},
		{"negative max length", org.QueueSettings{MaxLength: ptr(-1)}, org.ErrInvalid, "maximum length"},
		{"max wait too short", org.QueueSettings{MaxWait: ptr(time.Second)}, org.ErrInvalid, "maximum wait"},
		{"max wait beyond a week", org.QueueSettings{MaxWait: ptr(8 * 24 * time.Hour)}, org.ErrInvalid, "maximum wait"},
		{"fractional seconds", org.QueueSettings{WidenAfter: ptr(10500 * time.Millisecond)}, org.ErrInvalid, "widening delay"},
		{"negative ageing step", org.QueueSettings{AgeingStep: ptr(-time.Minute)}, org.ErrInvalid, "ageing step"},
		{"ageing max out of range", org.QueueSettings{AgeingMax: ptr(1001)}, org.ErrInvalid, "ageing maximum"},
		{"preference window beyond an hour", org.QueueSettings{PreferWindow: ptr(2 * time.Hour)}, org.ErrInvalid, "preference window"},
		{"widened skill level 0", org.QueueSettings{WidenedSkills: map[string]int{"sales": 0}}, org.ErrInvalid, "widened skill"},
		{"widened skill level 11", org.QueueSettings{WidenedSkills: map[string]int{"sales": 11}}, org.ErrInvalid, "widened skill"},
		{"calendar zone that does not load", org.QueueSettings{Calendar: badCal}, org.ErrInvalid, "Mars/Olympus"},
		{"calendar zone Local", org.QueueSettings{Calendar: &org.Calendar{Zone: "Local", Exceptions: []org.Exception{{Date: "2026-10-01"}}}}, org.ErrInvalid, "Local"},
		{"empty opening span", org.QueueSettings{Calendar: badSpan}, org.ErrInvalid, "opening span"},
		{"exception date twice", org.QueueSettings{Calendar: twice}, org.ErrInvalid, "twice"},
		{"overflow into itself", org.QueueSettings{OverflowQueueID: ptr(b.sales.ID)}, org.ErrInvalid, "itself"},
		{"overflow loop", org.QueueSettings{OverflowQueueID: ptr(b.second.ID)}, org.ErrInvalid, "lead back"},
		{"another tenant's overflow queue", org.QueueSettings{OverflowQueueID: ptr(theirs.ID)}, org.ErrNotFound, ""},
		{"unknown overflow queue", org.QueueSettings{OverflowQueueID: ptr(uuid.New())}, org.ErrNotFound, ""},
	} {
		_, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, tc.set, strategies)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: UpdateQueue = %v, want %v naming %q", tc.name, err, tc.want, tc.msg)
		}
	}
	if _, err := b.store.UpdateQueue(ctx, other.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{MaxLength: ptr(3)}, strategies); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("UpdateQueue(tenant b, queue of a) = %v, want ErrNotFound", err)
	}
	if after, _ := b.store.Queue(ctx, b.tenant.ID, b.sales.ID); !cmp.Equal(before, after) {
		t.Errorf("refused updates changed the queue: %s", cmp.Diff(before, after))
	}
	if n := b.auditCount(t); n != audited {
		t.Errorf("refused updates wrote %d audit entries, want none", n-audited)
	}
	if _, err := b.store.Queue(ctx, other.tenant.ID, b.sales.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("Queue(tenant b, queue of a) = %v, want ErrNotFound", err)
	}
}

// TestAuditIsPartOfTheChange: when the audit entry cannot be written (here
// the actor is another tenant's user, which its foreign key refuses), the
// change it would record is rolled back with it.
func TestAuditIsPartOfTheChange(t *testing.T) {
	b := setupAdmin(t)
	other := setupOn(t, b.store, "b")
	ctx := context.Background()
	if _, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, other.agent.ID, org.QueueSettings{MaxLength: ptr(7)}, strategies); err == nil {
		t.Fatal("UpdateQueue with an actor of another tenant succeeded")
	}
	if q, _ := b.store.Queue(ctx, b.tenant.ID, b.sales.ID); q.MaxLength != 0 {
		t.Errorf("max length = %d after the audit write failed, want 0 (rolled back)", q.MaxLength)
	}
	if _, err := b.store.UpdateAgent(ctx, b.tenant.ID, b.agent.ID, other.agent.ID, org.AgentSettings{VoiceBlocksChat: ptr(true)}); err == nil {
		t.Fatal("UpdateAgent with an actor of another tenant succeeded")
	}
	if a, _ := b.store.Agent(ctx, b.tenant.ID, b.agent.ID); a.VoiceBlocksChat {
		t.Error("voice blocks chat set although the audit write failed")
	}
	if _, err := b.store.ForcePresence(ctx, b.tenant.ID, b.agent.ID, other.agent.ID, org.Away, "coaching"); err == nil {
		t.Fatal("ForcePresence with an actor of another tenant succeeded")
	}
	if a, _ := b.store.Agent(ctx, b.tenant.ID, b.agent.ID); a.Presence != org.Offline {
		t.Errorf("presence = %s although the audit write failed, want offline", a.Presence)
	}
	if n := b.auditCount(t); n != 0 {
		t.Errorf("%d audit entries, want none", n)
	}
}

// TestUpdateAgent: skills are replaced, capacity changes per channel given,
// voice-blocks-chat is stored; bad values and other tenants' agents are
// refused; each change is audited.
func TestUpdateAgent(t *testing.T) {
	b := setupAdmin(t)
	other := setupOn(t, b.store, "b")
	ctx := context.Background()
	got, err := b.store.UpdateAgent(ctx, b.tenant.ID, b.agent.ID, b.admin.ID, org.AgentSettings{
		Skills: map[string]int{"service": 6, "enquiries": 2}, Capacity: map[org.Channel]int{org.Chat: 4, org.Voice: 0}, VoiceBlocksChat: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[org.Channel]int{org.Voice: 0, org.Chat: 4, org.Email: 5}
	if !cmp.Equal(got.Skills, map[string]int{"service": 6, "enquiries": 2}) || !cmp.Equal(got.Capacity, want) || !got.VoiceBlocksChat {
		t.Errorf("UpdateAgent = skills %v capacity %v voice blocks chat %v; want service 6 + enquiries 2, %v, true", got.Skills, got.Capacity, got.VoiceBlocksChat, want)
	}
	read, err := b.store.Agents(ctx, b.tenant.ID)
	if err != nil || len(read) != 1 || !cmp.Equal(read[0], got) {
		t.Errorf("Agents = %+v, %v; want %+v", read, err, got)
	}
	for _, tc := range []struct {
		name string
		set  org.AgentSettings
	}{
		{"skill level 11", org.AgentSettings{Skills: map[string]int{"sales": 11}}},
		{"empty skill name", org.AgentSettings{Skills: map[string]int{"": 3}}},
		{"unknown channel", org.AgentSettings{Capacity: map[org.Channel]int{"fax": 1}}},
		{"two calls at once", org.AgentSettings{Capacity: map[org.Channel]int{org.Voice: 2}}},
		{"negative capacity", org.AgentSettings{Capacity: map[org.Channel]int{org.Chat: -1}}},
	} {
		if _, err := b.store.UpdateAgent(ctx, b.tenant.ID, b.agent.ID, b.admin.ID, tc.set); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("%s: UpdateAgent = %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, err := b.store.UpdateAgent(ctx, other.tenant.ID, b.agent.ID, b.admin.ID, org.AgentSettings{VoiceBlocksChat: ptr(false)}); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("UpdateAgent(tenant b, agent of a) = %v, want ErrNotFound", err)
	}
	if after, _ := b.store.Agent(ctx, b.tenant.ID, b.agent.ID); !cmp.Equal(after, got) {
		t.Errorf("refused updates changed the agent: %s", cmp.Diff(got, after))
	}
	log, err := b.store.AuditLog(ctx, b.tenant.ID, 0, 10)
	if err != nil || len(log) != 1 || log[0].Action != "agent.update" || log[0].TargetID != b.agent.ID ||
		!cmp.Equal(log[0].Data["capacity"], map[string]any{"chat": float64(4), "voice": float64(0)}) {
		t.Errorf("AuditLog = %+v, %v; want one agent.update with the capacity change", log, err)
	}
}

// TestForcePresenceIsAudited: a supervisor's forced presence is audited
// with the states but not the free-text reason; an agent's own choice and
// an unchanged state are not.
func TestForcePresenceIsAudited(t *testing.T) {
	b := setupAdmin(t)
	ctx := context.Background()
	if _, err := b.store.SetPresence(ctx, b.tenant.ID, b.agent.ID, org.Available, ""); err != nil {
		t.Fatal(err)
	}
	a, err := b.store.ForcePresence(ctx, b.tenant.ID, b.agent.ID, b.admin.ID, org.Away, "doctor's appointment")
	if err != nil || a.Presence != org.Away || a.Reason != "doctor's appointment" {
		t.Fatalf("ForcePresence = %+v, %v; want away with the reason", a, err)
	}
	if _, err := b.store.ForcePresence(ctx, b.tenant.ID, b.agent.ID, b.admin.ID, org.Away, "doctor's appointment"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.ForcePresence(ctx, b.tenant.ID, uuid.New(), b.admin.ID, org.Away, ""); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("ForcePresence(unknown agent) = %v, want ErrNotFound", err)
	}
	log, err := b.store.AuditLog(ctx, b.tenant.ID, 0, 10)
	if err != nil || len(log) != 1 {
		t.Fatalf("AuditLog = %+v, %v; want exactly the one forced change", log, err)
	}
	if e := log[0]; e.Action != "presence.force" || e.ActorID != b.admin.ID || !cmp.Equal(e.Data, map[string]any{"from": "available", "state": "away"}) {
		t.Errorf("audit entry = %+v, want presence.force available → away by the admin, without the reason", e)
	}
}

// TestAuditLogPages: newest first, before pages back, another tenant sees
// none of it, and limits out of range are refused.
func TestAuditLogPages(t *testing.T) {
	b := setupAdmin(t)
	other := setupOn(t, b.store, "b")
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		if _, err := b.store.UpdateQueue(ctx, b.tenant.ID, b.sales.ID, b.admin.ID, org.QueueSettings{MaxLength: ptr(i)}, strategies); err != nil {
			t.Fatal(err)
		}
	}
	var lengths []float64
	before := int64(0)
	for page := 0; page < 3; page++ {
		es, err := b.store.AuditLog(ctx, b.tenant.ID, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			lengths = append(lengths, e.Data["max_length"].(float64))
			before = e.ID
		}
	}
	if !cmp.Equal(lengths, []float64{5, 4, 3, 2, 1}) {
		t.Errorf("pages of 2 give max lengths %v, want 5 4 3 2 1", lengths)
	}
	if es, err := b.store.AuditLog(ctx, other.tenant.ID, 0, 50); err != nil || len(es) != 0 {
		t.Errorf("AuditLog(tenant b) = %v, %v; want nothing", es, err)
	}
	for _, limit := range []int{0, 201} {
		if _, err := b.store.AuditLog(ctx, b.tenant.ID, 0, limit); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("AuditLog(limit %d) = %v, want ErrInvalid", limit, err)
		}
	}
}

// TestAQueueCountsItsDayInItsSitesZone: a site's queue takes the site's
// zone, a group-wide one the tenant's.
func TestAQueueCountsItsDayInItsSitesZone(t *testing.T) {
	b := setupAdmin(t)
	ctx := context.Background()
	site, err := b.store.CreateSite(ctx, org.Site{TenantID: b.tenant.ID, Name: "Urumqi", Zone: "Asia/Urumqi"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := b.store.CreateQueue(ctx, org.Queue{TenantID: b.tenant.ID, SiteID: site.ID, Name: "Urumqi service"})
	if err != nil {
		t.Fatal(err)
	}
	if q.Zone != "Asia/Urumqi" {
		t.Errorf("CreateQueue zone = %q, want the site's Asia/Urumqi", q.Zone)
	}
	qs, err := b.store.Queues(ctx, b.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range qs {
		want := b.tenant.DefaultZone
		if x.ID == q.ID {
			want = "Asia/Urumqi"
		}
		if x.Zone != want {
			t.Errorf("queue %s zone = %q, want %q", x.Name, x.Zone, want)
		}
	}
}
