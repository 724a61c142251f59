package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
)

// TestWallboardBrowser: a supervisor watches the wallboard in Chromium while
// five chats arrive, an agent answers two and a customer gives up on one.
// The page's figures are checked against what the test computes from the
// contacts it created and their events in PostgreSQL: waiting, answered /
// offered, abandoned and its rate, the service level and its colour at the
// thresholds the supervisor sets on the page, AHT, and Erlang C's agents
// needed (stats.AgentsNeeded on the same arrivals, window, AHT, threshold
// and goal) next to the agents available. Then the drill-down lists the
// waiting contacts and moves one to Sales; the sparklines have points; the
// team and site filters narrow the agents; the wall-screen mode hides the
// controls in large type. Screenshots go to artifacts/screenshots/.
func TestWallboardBrowser(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	fx := newWallFixture(t, a)
	ctx := context.Background()
	tenant := fx.site.TenantID
	zhao := uuid.MustParse(fx.id(t, `SELECT id::text FROM users WHERE email = 'zhaomin@huadong.example'`))
	supID := uuid.MustParse(fx.id(t, `SELECT id::text FROM users WHERE email = 'supervisor@huadong.example'`))
	xihu := fx.id(t, `SELECT id::text FROM sites WHERE tenant_id = $1 AND id <> $2 LIMIT 1`, tenant, fx.site.ID)
	orgs := org.NewStore(fx.pool)
	team, err := orgs.CreateTeam(ctx, tenant, supID, org.TeamSettings{Name: ptr("Late shift")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.AddTeamMember(ctx, tenant, team.ID, zhao, supID); err != nil {
		t.Fatal(err)
	}
	// One chat at a time, so the test decides how many are answered.
	if _, err := fx.pool.Exec(ctx, `UPDATE agents SET capacity_chat = 1 WHERE id = $1`, zhao); err != nil {
		t.Fatal(err)
	}
	var enquiries org.Queue
	qs, err := orgs.Queues(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == "Enquiries" {
			enquiries = q
		}
	}

	tab, cancelTab := chromedp.NewContext(root)
	defer cancelTab()
	var consoleMu sync.Mutex
	var consoleLog []string
	go func() {
		for m, err := range chromedp.Console(tab) {
			if err != nil {
				return
			}
			consoleMu.Lock()
			consoleLog = append(consoleLog, m.String())
			consoleMu.Unlock()
		}
	}()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			screenshot(t, tab, "wallboard-failed")
			ectx, ecancel := context.WithTimeout(tab, 5*time.Second)
			body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
			ecancel()
			consoleMu.Lock()
			browserLog := strings.Join(consoleLog, "\n")
			consoleMu.Unlock()
			t.Fatalf("%s: %v\npage text:\n%s\nbrowser console:\n%s\nserver log tail:\n%s", what, err, body, browserLog, tail(a.logs.String(), 3000))
		}
	}
	poll := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(40*time.Second))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	eval := func(expr string) string {
		t.Helper()
		ectx, cancel := context.WithTimeout(tab, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(ectx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	row := func(queue, cell string) string {
		return fmt.Sprintf(`(document.querySelector('[data-testid=queue-row][data-queue=%s] %s')?.textContent ?? '')`, queue, cell)
	}

	step("the supervisor opens the wallboard",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "supervisor@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=conn]`)),
		poll("connected", `document.querySelector('[data-testid=conn]')?.textContent === 'connected'`),
		poll("the Enquiries row", `!!document.querySelector('[data-testid=queue-row][data-queue=Enquiries]')`),
		poll("the team filter filled", `[...document.querySelectorAll('#filter-team option')].some(o => o.textContent === 'Late shift')`),
	)

	before := time.Now()
	created := fx.arrive(t, "wallboard", 5)
	arrived := time.Now()
	step("five chats waiting",
		poll("5 waiting", row("Enquiries", ".waiting")+` === '5'`),
		poll("0 / 5 answered", row("Enquiries", ".answered")+` === '0 / 5'`),
		poll("the longest wait ticking", row("Enquiries", ".longest-wait")+` !== '00:00'`),
	)

	// The supervisor sets Enquiries' colours on the page: goal 90%, red
	// below 70%, wait amber from 10 s, red from 20 s.
	step("set the thresholds",
		chromedp.Click(chromedp.CSS(`[data-testid=queue-row][data-queue=Enquiries] [data-testid=thresholds-open]`)),
		chromedp.WaitVisible(chromedp.CSS(`#thresholds-form`)),
		chromedp.SetValue(chromedp.CSS(`#thresholds-form [name=sl_goal]`), "90"),
		chromedp.SetValue(chromedp.CSS(`#thresholds-form [name=sl_red]`), "70"),
		chromedp.SetValue(chromedp.CSS(`#thresholds-form [name=wait_amber_seconds]`), "10"),
		chromedp.SetValue(chromedp.CSS(`#thresholds-form [name=wait_red_seconds]`), "20"),
		chromedp.Click(chromedp.CSS(`[data-testid=thresholds-save]`)),
		poll("the dialog closed", `!document.getElementById('thresholds').open`),
		poll("the new goal on the row", `document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .sl')?.dataset.goal === '0.9'`),
	)
	var audited int
	fx.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'queue.thresholds' AND target_id = $1 AND actor_id = $2`, enquiries.ID, supID).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d audit entries for the page's thresholds, want 1", audited)
	}

	// Zhao Min answers two chats, one after the other, and goes away
	// before the third.
	agent := a.availableAgent(t, "zhaomin@huadong.example")
	var handled []string
	for i := range 2 {
		o := agent.expect("offer", nil)
		agent.send(map[string]any{"type": "accept", "id": fmt.Sprintf("a%d", i), "offer_id": o["offer_id"]})
		contact := path(agent.expect("assigned", nil), "contact", "id").(string)
		handled = append(handled, contact)
		agent.send(map[string]any{"type": "close", "id": fmt.Sprintf("c%d", i), "contact_id": contact})
		agent.expect("contact_closed", func(f map[string]any) bool { return path(f, "contact", "id") == contact || f["contact_id"] == contact })
		if i == 1 {
			agent.send(map[string]any{"type": "presence", "id": "away", "state": "away", "reason": "break"})
			agent.expect("ack", func(f map[string]any) bool { return f["ref"] == "away" })
		}
		agent.send(map[string]any{"type": "done", "id": fmt.Sprintf("d%d", i), "contact_id": contact})
		agent.expect("wrap_up_ended", nil)
	}
	// A customer still waiting gives up, past the 5 s of a short abandon.
	var gaveUp uuid.UUID
	for _, c := range created {
		if !strings.Contains(strings.Join(handled, " "), c.String()) {
			gaveUp = c
			break
		}
	}
	time.Sleep(time.Until(arrived.Add(6 * time.Second)))
	fx.abandon(t, gaveUp)

	// What the page must show, from the contacts' events.
	type ev struct{ created, assigned, wrapped time.Time }
	evs := map[string]*ev{}
	rows, err := fx.pool.Query(ctx, `SELECT contact_id::text, kind, at FROM contact_events WHERE tenant_id = $1 AND kind IN ('created', 'assigned', 'wrap_up_ended')`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, kind string
		var at time.Time
		if err := rows.Scan(&id, &kind, &at); err != nil {
			t.Fatal(err)
		}
		if evs[id] == nil {
			evs[id] = &ev{}
		}
		switch kind {
		case "created":
			evs[id].created = at
		case "assigned":
			evs[id].assigned = at
		case "wrap_up_ended":
			evs[id].wrapped = at
		}
	}
	rows.Close()
	var handleTime time.Duration
	within := 0
	for _, id := range handled {
		e := evs[id]
		if e == nil || e.assigned.IsZero() || e.wrapped.IsZero() {
			t.Fatalf("contact %s lacks its events: %+v", id, e)
		}
		handleTime += e.wrapped.Sub(e.assigned) // chat: answered at the accept; talk + wrap-up
		if e.assigned.Sub(e.created) <= enquiries.SLA {
			within++
		}
	}
	aht := handleTime / 2
	sl := float64(within) / 3 // answered within / (answered + abandoned)
	wantSL := strconv.Itoa(int(sl*100+0.5)) + "%"
	wantClass := "red"
	if sl >= 0.9 {
		wantClass = "ok"
	} else if sl >= 0.7 {
		wantClass = "amber"
	}
	zone, err := time.LoadLocation(enquiries.Zone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	window := max(min(stats.ArrivalWindow, now.Sub(startOfDayIn(now, zone))), stats.MinArrivalWindow)
	needed := stats.AgentsNeeded(5/window.Seconds(), aht, enquiries.SLA, 0.9)

	step("the figures after the answers and the abandon",
		poll("2 waiting", row("Enquiries", ".waiting")+` === '2'`),
		poll("2 / 5 answered", row("Enquiries", ".answered")+` === '2 / 5'`),
		poll("1 abandoned", row("Enquiries", ".abandoned")+` === '1'`),
		poll("the AHT", row("Enquiries", ".aht")+` !== '–'`),
		poll("no agent available for Enquiries", row("Enquiries", ".available")+` === '0'`),
	)
	if got := eval(row("Enquiries", ".abandon-rate")); got != "33%" {
		t.Errorf("abandon rate shows %q, want 33%% (1 of 2 answered + 1 abandoned)", got)
	}
	if got := eval(row("Enquiries", ".sl")); got != wantSL {
		t.Errorf("service level shows %q, want %s (%d answered within %v of 3)", got, wantSL, within, enquiries.SLA)
	}
	if got := eval(`document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .sl').className`); !strings.Contains(got, wantClass) {
		t.Errorf("service level cell class %q, want %s at goal 90%% and red below 70%%", got, wantClass)
	}
	if got, err := strconv.ParseFloat(eval(`document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .aht').dataset.seconds`), 64); err != nil || got-aht.Seconds() > 0.002 || aht.Seconds()-got > 0.002 {
		t.Errorf("AHT on the page %v s (%v), want %.3f s from the events", got, err, aht.Seconds())
	}
	if got := eval(row("Enquiries", ".needed")); got != strconv.Itoa(needed) {
		t.Errorf("agents needed shows %q, want %d: stats.AgentsNeeded(5 in %v, AHT %v, %v, 90%%)", got, needed, window, aht, enquiries.SLA)
	}
	if needed > 0 && !strings.Contains(eval(`document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .needed').className`), "red") {
		t.Errorf("agents needed (%d) above agents available (0) is not red", needed)
	}
	// The longest wait turns red once it passes the 20 s set on the page.
	step("the longest wait turns red",
		poll("amber or red from 10 s", `/amber|red/.test(document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .longest-wait').className)`),
		poll("red from 20 s", `document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .longest-wait').classList.contains('red')`),
	)
	if wait := time.Since(before); wait < 19*time.Second {
		t.Errorf("the longest wait was red %v after the arrivals, before the 20 s set", wait)
	}

	step("sparklines, time in state",
		poll("points in Enquiries' depth sparkline", `Number(document.querySelector('[data-testid=queue-row][data-queue=Enquiries] svg.spark-w')?.dataset.points) >= 2`),
		poll("Zhao Min away for mm:ss", `/^\d\d:\d\d$/.test(document.querySelector('[data-testid=agent-row][data-agent="`+zhao.String()+`"] .in-state')?.textContent || '')`),
	)
	screenshot(t, tab, "wallboard-issue8")

	// Filters: the team shows Zhao Min alone; the other site hides him.
	step("filter by team",
		chromedp.SetValue(chromedp.CSS(`#filter-team`), team.ID.String()),
		poll("team filter applied", `document.querySelector('#filter-team').dispatchEvent(new Event('change')) || true`),
		poll("only Zhao Min", `[...document.querySelectorAll('[data-testid=agent-row]')].map(r => r.dataset.agent).join() === '`+zhao.String()+`'`),
		chromedp.SetValue(chromedp.CSS(`#filter-site`), xihu),
		poll("site filter applied", `document.querySelector('#filter-site').dispatchEvent(new Event('change')) || true`),
		poll("nobody of the team at the other site", `document.querySelectorAll('[data-testid=agent-row]').length === 0`),
		chromedp.SetValue(chromedp.CSS(`#filter-team`), ""),
		chromedp.SetValue(chromedp.CSS(`#filter-site`), ""),
		poll("filters cleared", `document.querySelector('#filter-site').dispatchEvent(new Event('change')) || true`),
		poll("all 12 agents", `document.querySelectorAll('[data-testid=agent-row]').length === 12`),
	)

	// The drill-down lists the two waiting contacts by id; one moves to Sales.
	step("open the drill-down",
		chromedp.Click(chromedp.CSS(`[data-testid=queue-row][data-queue=Enquiries] [data-testid=drill-open]`)),
		poll("two waiting contacts listed", `document.querySelectorAll('[data-testid=waiting-contact]').length === 2`),
	)
	listed := strings.Split(eval(`[...document.querySelectorAll('[data-testid=waiting-contact]')].map(r => r.dataset.contact).join(' ')`), " ")
	for _, id := range listed {
		if id == gaveUp.String() || strings.Contains(strings.Join(handled, " "), id) {
			t.Errorf("the drill-down lists %s, which no longer waits", id)
		}
	}
	if body := eval(`document.getElementById('drill').textContent`); strings.Contains(body, "Wall Test") || strings.Contains(body, "@example.com") {
		t.Errorf("the drill-down shows personal data: %s", body)
	}
	sales := fx.id(t, `SELECT id::text FROM queues WHERE tenant_id = $1 AND name = 'Sales'`, tenant)
	step("move one to Sales",
		chromedp.SetValue(chromedp.CSS(`[data-testid=waiting-contact][data-contact="`+listed[0]+`"] [data-testid=move-queue]`), sales),
		chromedp.Click(chromedp.CSS(`[data-testid=waiting-contact][data-contact="`+listed[0]+`"] [data-testid=move-queue-go]`)),
		poll("1 waiting in Enquiries", row("Enquiries", ".waiting")+` === '1'`),
		poll("1 waiting in Sales", row("Sales", ".waiting")+` === '1'`),
		poll("the drill-down follows", `document.querySelectorAll('[data-testid=waiting-contact]').length === 1`),
	)
	var queueOf string
	fx.pool.QueryRow(ctx, `SELECT queue_id::text FROM contacts WHERE id = $1`, listed[0]).Scan(&queueOf)
	if queueOf != sales {
		t.Errorf("moved contact is in queue %s, want Sales %s", queueOf, sales)
	}

	// The wall screen: large type, no controls, the same figures.
	step("wall-screen mode",
		chromedp.Navigate(a.url+"/wallboard?screen=1"),
		poll("connected", `document.querySelector('[data-testid=conn]')?.textContent === 'connected'`),
		poll("the figures", row("Enquiries", ".answered")+` === '2 / 5'`),
	)
	if got := eval(`String(document.querySelector('[data-testid=drill-open]').offsetParent === null && document.querySelector('[data-testid=force-state]').offsetParent === null && document.querySelector('#filter-site').offsetParent === null)`); got != "true" {
		t.Errorf("wall-screen mode shows controls")
	}
	if px, _ := strconv.ParseFloat(strings.TrimSuffix(eval(`getComputedStyle(document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .waiting')).fontSize`), "px"), 64); px < 32 {
		t.Errorf("wall-screen figures are %v px, want large type (≥ 32 px)", px)
	}
	screenshot(t, tab, "wallboard-screen")
}

func startOfDayIn(now time.Time, loc *time.Location) time.Time {
	l := now.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}
