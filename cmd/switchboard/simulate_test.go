package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/cmd/switchboard/internal/demo"
)

// TestSimulate runs `switchboard simulate` in-process against serve --demo
// for 15 s at a high rate with 2 bot agents, and checks from the database
// that every simulated call was recorded once with its contact, that bot
// agents answered some (call_answered, assignments), that impatient
// callers abandoned some (abandoned contacts with callbacks), and that no
// caller number reached a log.
func TestSimulate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server and 15 s of calls")
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startApp(t, map[string]string{"SWITCHBOARD_DEMO_PBX_URL": "http://" + listen + "/pbx"})
	// The connector and its secret are found in the demo's database, as
	// make run does.
	env := map[string]string{"DATABASE_URL": a.dsn, "SWITCHBOARD_SECRET": "test-secret-0123456789"}
	cfg, err := parseSimulate([]string{"--url", a.url, "--listen", listen, "--rate", "90", "--aht", "3",
		"--abandon", "0.35", "--patience", "2", "--max-wait", "90s", "--agents", "2", "--duration", "15s",
		"--speed", "4", "--seed", "2026", "--progress", "5s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out, logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := simulate(ctx, cfg, &out, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("simulator:\n%s", out.String())
	if st.failed.Load() != 0 {
		t.Errorf("%d call events failed:\n%s", st.failed.Load(), logs.String())
	}
	if st.started.Load() < 10 || st.answered.Load() < 1 || st.impatient.Load() < 1 || st.accepted.Load() < 1 || st.done.Load() < 1 {
		t.Fatalf("simulator counts: %d calls, %d answered, %d impatient abandons, %d taken by bots, %d wrap-ups done; want some of each",
			st.started.Load(), st.answered.Load(), st.impatient.Load(), st.accepted.Load(), st.done.Load())
	}

	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	// Every call recorded once, ended (the simulator hangs up what is
	// left at the end), with a contact of its own.
	if n := count(`SELECT count(*) FROM calls`); n != int(st.started.Load()) {
		t.Errorf("%d calls rows, want the %d calls the simulator started", n, st.started.Load())
	}
	if n := count(`SELECT count(*) FROM calls WHERE contact_id IS NULL OR state <> 'ended'`); n != 0 {
		t.Errorf("%d calls without a contact or not ended", n)
	}
	if n := count(`SELECT count(*) FROM (SELECT contact_id FROM calls GROUP BY contact_id HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d contacts shared by several calls", n)
	}
	if n, calls := count(`SELECT count(*) FROM contacts WHERE channel = 'voice' AND direction = 'inbound'`), count(`SELECT count(*) FROM calls`); n != calls {
		t.Errorf("%d inbound voice contacts for %d calls: a call doubled or lost its contact", n, calls)
	}
	// Answered by agents: the simulator's count, one call_answered event
	// each, and the bots' assignments.
	if n := count(`SELECT count(*) FROM calls WHERE answered_at IS NOT NULL`); n != int(st.answered.Load()) {
		t.Errorf("%d calls answered in the database, the simulator answered %d", n, st.answered.Load())
	}
	if n := count(`SELECT count(*) FROM contact_events e JOIN calls k ON k.contact_id = e.contact_id WHERE e.kind = 'call_answered'`); n != int(st.answered.Load()) {
		t.Errorf("%d call_answered events, want %d", n, st.answered.Load())
	}
	bots := []string{demoAgents()[0].Email, demoAgents()[1].Email}
	if n := count(`SELECT count(*) FROM assignments s JOIN calls k ON k.contact_id = s.contact_id
		JOIN users u ON u.id = s.agent_id WHERE u.email = ANY($1) AND k.answered_at IS NOT NULL`, bots); n < 1 {
		t.Errorf("no answered call assigned to a bot agent")
	}
	if n := count(`SELECT count(*) FROM assignments s JOIN calls k ON k.contact_id = s.contact_id WHERE s.ended_at IS NULL`); n != 0 {
		t.Errorf("%d calls' assignments still open after the run", n)
	}
	// Abandoned by patience: abandoned contacts, and a callback for each
	// missed caller the hotline knows (random numbers become customers).
	abandoned := count(`SELECT count(*) FROM calls k JOIN contacts c ON c.id = k.contact_id WHERE c.state = 'abandoned' AND k.answered_at IS NULL`)
	if abandoned < int(st.abandoned.Load()) {
		t.Errorf("%d abandoned call contacts, the simulator's callers abandoned %d", abandoned, st.abandoned.Load())
	}
	if n := count(`SELECT count(*) FROM calls k JOIN contacts c ON c.id = k.contact_id
		WHERE c.state = 'abandoned' AND k.customer_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM callbacks b WHERE b.origin_contact_id = c.id)`); n != 0 {
		t.Errorf("%d missed calls of known callers without a callback", n)
	}
	if n := count(`SELECT count(*) FROM callbacks b JOIN calls k ON k.contact_id = b.origin_contact_id`); n < 1 {
		t.Errorf("no callbacks for missed calls")
	}
	// Bots wrapped up with a note.
	if n := count(`SELECT count(*) FROM contact_events WHERE kind = 'wrap_up_ended'`); n < 1 {
		t.Errorf("no wrap-up ended")
	}
	// No caller's number in either side's logs.
	// Word boundaries: ids and hex secrets hold digit runs, never alone.
	phones := regexp.MustCompile(`\b(86)?13[89]\d{8}\b`)
	for name, l := range map[string]string{"server": a.logs.String(), "simulator": logs.String(), "simulator stdout": out.String()} {
		if m := phones.FindString(l); m != "" {
			t.Errorf("a caller number is in the %s logs", name)
		}
		for _, k := range demo.CallerNumbers() {
			if strings.Contains(l, k) {
				t.Errorf("a known caller's number is in the %s logs", name)
			}
		}
	}
}
