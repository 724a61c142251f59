package crm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
)

// tally folds the tenant's whole event log into stats, as the wallboard
// and reports do.
func (b bundle) tally(t *testing.T, o tenantOrg) (stats.Counts, map[string]int) {
	t.Helper()
	// EventsSince's query, without its cursor: the cursor waits for every
	// transaction of the cluster (other tests' too) to end.
	rows, err := b.pool.Query(context.Background(), `
		SELECT e.kind, e.contact_id, coalesce(e.queue_id, c.queue_id), coalesce(e.agent_id, '00000000-0000-0000-0000-000000000000'),
		       c.channel, e.at
		FROM contact_events e JOIN contacts c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id
		WHERE e.tenant_id = $1 ORDER BY e.xact_id, e.id`, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tl := stats.NewTally(func(uuid.UUID) stats.Policy { return stats.Policy{SLA: 20 * time.Second} })
	kinds := map[string]int{}
	for rows.Next() {
		var e stats.Event
		if err := rows.Scan(&e.Kind, &e.ContactID, &e.QueueID, &e.AgentID, &e.Channel, &e.At); err != nil {
			t.Fatal(err)
		}
		tl.Add(e)
		kinds[e.Kind]++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return tl.Queue(o.QueueID), kinds
}

func TestPurgeKeepsStatisticsAndLeavesNoPersonalData(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	// Synthetic personal data, unique in the database so that any trace of
	// it after the purge is found.
	const (
		name  = "Purgeable Qin 秦始皇"
		tel   = "+8613912345671"
		mail  = "purge.me@example.cn"
		plate = "沪C99887"
		note  = "lives at 1 Purge Road"
	)
	c, err := b.store.CreateCustomer(ctx, b.a.ID, crm.NewCustomer{Name: name, Notes: note,
		Identities: []crm.Identity{phone(tel), email(mail)}})
	if err != nil {
		t.Fatal(err)
	}
	keep := b.customer(t, b.a.ID, "Keeper", phone("+8613700137001"))
	if _, err := b.store.AddVehicle(ctx, b.a.ID, c, crm.NewVehicle{Plate: plate, VIN: testVIN}, "owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddServiceOrder(ctx, b.a.ID, c, crm.NewServiceOrder{Number: "SO-P1", Description: "for " + name, Amount: "500"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO follow_ups (id, tenant_id, customer_id, assigned_to, kind, due_at, note)
		VALUES ($1, $2, $3, $4, 'callback', now(), $5)`, uuid.New(), b.a.ID, c, b.a.Agent, "call "+tel); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.ScheduleCallback(ctx, b.a.ID, crm.NewCallback{CustomerID: c, QueueID: b.a.QueueID, DueAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	endpoint := uuid.New()
	if _, err := b.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1, $2, 'https://erp.example/hook', 'sixteen-byte-secret')`,
		endpoint, b.a.ID); err != nil {
		t.Fatal(err)
	}
	// Two conversations: answered and closed, and one left waiting.
	in := inbound(b.a, "p-1", mail)
	in.Subject, in.Body = "Car for "+name, "My number is "+tel
	first := b.record(t, in).ContactID
	b.assign(t, b.a, first, b.a.Agent)
	if _, err := b.store.AppendAgentMessage(ctx, b.a.ID, b.a.Agent, first, "r1", "Hello "+name+", we will call "+tel); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Close(ctx, b.a.ID, b.a.Agent, first, "customer "+mail); err != nil {
		t.Fatal(err)
	}
	in2 := inbound(b.a, "p-2", mail)
	in2.Body = "plate " + plate
	second := b.record(t, in2).ContactID
	// The keeper's own conversation must come through untouched.
	kin := inbound(b.a, "k-1", "keeper@example.cn")
	kin.Identities = []crm.Identity{phone("+8613700137001")}
	keepContact := b.record(t, kin).ContactID
	if _, err := b.pool.Exec(ctx, `INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, customer_id, payload)
		VALUES ($1, $2, $3, 'customer.updated', $4, $5)`, uuid.New(), b.a.ID, endpoint, c,
		map[string]any{"customer_id": c, "name": name, "phone": tel}); err != nil {
		t.Fatal(err)
	}
	statsBefore, kindsBefore := b.tally(t, b.a)
	messagesBefore := b.count(t, `SELECT count(*) FROM messages WHERE tenant_id = $1`, b.a.ID)

	if err := b.store.Delete(ctx, b.a.ID, b.a.Agent, c); err != nil {
		t.Fatal(err)
	}
	bin, err := b.store.RecycleBin(ctx, b.a.ID, time.Time{}, 10)
	if err != nil || len(bin) != 1 || bin[0].ID != c || bin[0].Name != name {
		t.Fatalf("RecycleBin = %+v, %v", bin, err)
	}
	if n, err := b.store.Purge(ctx, b.a.ID, time.Hour); err != nil || n != 0 {
		t.Fatalf("Purge before the retention ran out = %d, %v; want 0", n, err)
	}
	if n, err := b.store.Purge(ctx, b.b.ID, 0); err != nil || n != 0 {
		t.Fatalf("Purge(tenant b) = %d, %v; want 0", n, err)
	}
	if n, err := b.store.Purge(ctx, b.a.ID, 0); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}

	statsAfter, kindsAfter := b.tally(t, b.a)
	if statsBefore.Offered != 3 || statsBefore.Answered != 1 {
		t.Fatalf("fixture: stats before %+v", statsBefore)
	}
	if diff := cmp.Diff(statsBefore, statsAfter); diff != "" {
		t.Errorf("queue statistics changed by the purge (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(kindsBefore, kindsAfter); diff != "" {
		t.Errorf("event counts changed by the purge (-before +after):\n%s", diff)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE tenant_id = $1`, b.a.ID); n != messagesBefore {
		t.Errorf("%d messages after purge, want %d (rows kept, bodies erased)", n, messagesBefore)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE contact_id = ANY ($1) AND (body <> '' OR NOT purged)`, []uuid.UUID{first, second}); n != 0 {
		t.Errorf("%d purged contacts' messages keep a body", n)
	}
	if n := b.count(t, `SELECT count(*) FROM messages WHERE contact_id = $1 AND body <> '' AND NOT purged`, keepContact); n != 1 {
		t.Error("the keeper's message was touched")
	}
	var channel org.Channel
	var queue uuid.UUID
	var closedAt *time.Time
	if err := b.pool.QueryRow(ctx, `SELECT channel, queue_id, closed_at FROM contacts WHERE id = $1`, first).Scan(&channel, &queue, &closedAt); err != nil ||
		channel != org.Email || queue != b.a.QueueID || closedAt == nil {
		t.Errorf("purged contact lost its statistics columns: %s %s %v %v", channel, queue, closedAt, err)
	}
	if r, err := b.store.Resolve(ctx, b.a.ID, []crm.Identity{phone("+8613700137001")}, ""); err != nil || r.CustomerID != keep {
		t.Errorf("keeper after purge: %+v, %v", r, err)
	}

	// No trace of the personal data in any column of any table.
	tables, err := b.pool.Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var s string
		if err := tables.Scan(&s); err != nil {
			t.Fatal(err)
		}
		names = append(names, s)
	}
	if len(names) < 20 {
		t.Fatalf("only %d tables found", len(names))
	}
	for _, table := range names {
		for _, secret := range []string{"Purgeable", "秦始皇", tel, "13912345671", mail, "purge.me", plate, "C99887", testVIN, "Purge Road"} {
			if n := b.count(t, `SELECT count(*) FROM `+table+` t WHERE strpos(t::text, $1) > 0`, secret); n != 0 {
				t.Errorf("%d rows of %s still hold %q after the purge", n, table, secret)
			}
		}
	}
	if err := b.store.Restore(ctx, b.a.ID, b.a.Agent, c); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("Restore(purged) = %v, want ErrConflict", err)
	}
}

func TestDeleteRestore(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	c := b.customer(t, b.a.ID, "Soft", phone("+8613600136000"))
	if err := b.store.Delete(ctx, b.b.ID, b.b.Agent, c); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Delete from another tenant = %v, want ErrNotFound", err)
	}
	if err := b.store.Delete(ctx, b.a.ID, b.a.Agent, c); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Delete(ctx, b.a.ID, b.a.Agent, c); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	// A deleted customer no longer resolves: the next contact makes a new one.
	if r, err := b.store.Resolve(ctx, b.a.ID, []crm.Identity{phone("+8613600136000")}, ""); err != nil || r.CustomerID == c {
		t.Errorf("Resolve(deleted customer's phone) = %+v, %v", r, err)
	}
	if bin, _ := b.store.RecycleBin(ctx, b.b.ID, time.Time{}, 10); len(bin) != 0 {
		t.Errorf("tenant b's recycle bin shows %v", bin)
	}
	if err := b.store.Restore(ctx, b.b.ID, b.b.Agent, c); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("Restore from another tenant = %v, want ErrNotFound", err)
	}
	if err := b.store.Restore(ctx, b.a.ID, b.a.Agent, c); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Restore(ctx, b.a.ID, b.a.Agent, c); !errors.Is(err, crm.ErrConflict) {
		t.Errorf("Restore(live) = %v, want ErrConflict", err)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE target_id = $1 AND action IN ('customer.delete', 'customer.restore')`, c); n != 2 {
		t.Errorf("%d delete/restore audit entries, want 2", n)
	}
}
