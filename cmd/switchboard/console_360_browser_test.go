package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// history360 writes a past for the demo's known customer (synthetic, for
// this test): an e-mail thread, a chat, an answered call with its record
// (waited 12 s, talked 170 s after 30 s on hold, hung up normally, a
// recording), and older chats, so that the timeline pages. It returns the
// customer's id.
func history360(t *testing.T, pool *pgxpool.Pool, olderChats int) string {
	t.Helper()
	ctx := context.Background()
	var tenant, customer, queue, connector string
	if err := pool.QueryRow(ctx, `SELECT tenant_id::text, id::text FROM customers WHERE name = '王伟 Wang Wei'`).Scan(&tenant, &customer); err != nil {
		t.Fatalf("the demo customer: %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT id::text FROM queues WHERE tenant_id = $1 AND name = 'Enquiries'`, tenant).Scan(&queue); err != nil {
		t.Fatalf("the Enquiries queue: %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT id::text FROM phone_connectors WHERE tenant_id = $1 LIMIT 1`, tenant).Scan(&connector); err != nil {
		t.Fatalf("the demo's phone connector: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	contact := func(channel, subject, wrapUp string, at time.Time, lines ...string) string {
		t.Helper()
		id := uuid.New().String()
		if _, err := pool.Exec(ctx, `
			INSERT INTO contacts (id, tenant_id, channel, queue_id, customer_id, state, subject, arrived_at, wrap_up, closed_at, created_at, last_seq)
			VALUES ($1, $2, $3, $4, $5, 'closed', $6, $7, $8, $7, $7, $9)`,
			id, tenant, channel, queue, customer, subject, at, wrapUp, len(lines)); err != nil {
			t.Fatalf("insert %s contact: %v", channel, err)
		}
		for i, body := range lines {
			if _, err := pool.Exec(ctx, `
				INSERT INTO messages (id, tenant_id, contact_id, seq, author_kind, body, created_at)
				VALUES ($1, $2, $3, $4, 'customer', $5, $6)`, uuid.New(), tenant, id, i+1, body, at.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatalf("insert message: %v", err)
			}
		}
		return id
	}
	contact("email", "Brake pads quote", "", now.Add(-72*time.Hour), "How much are new brake pads for the Lavida?")
	contact("chat", "", "Told him Friday", now.Add(-48*time.Hour), "Is my car ready?")
	voice := contact("voice", "", "Booked for Friday", now.Add(-24*time.Hour))
	started := now.Add(-24 * time.Hour)
	answered := started.Add(17 * time.Second)
	if _, err := pool.Exec(ctx, `
		INSERT INTO calls (id, tenant_id, connector_id, call_id, contact_id, customer_id, direction, state,
		                   started_at, queued_at, answered_at, hold_seconds, ended_at, cause, recording_url)
		VALUES ($1, $2, $3, 'c360-test-call', $4, $5, 'inbound', 'ended', $6, $7, $8, 30, $9, 'normal', 'https://pbx.example/rec/c360.wav')`,
		uuid.New(), tenant, connector, voice, customer, started, started.Add(5*time.Second), answered, answered.Add(200*time.Second)); err != nil {
		t.Fatalf("insert call: %v", err)
	}
	for i := range olderChats {
		contact("chat", "", "", now.Add(-10*24*time.Hour-time.Duration(i)*time.Hour), fmt.Sprintf("Older question %d", i+1))
	}
	return customer
}

// TestBrowserCustomer360 drives the console in headless Chromium: the
// agent presses "/" and types the demo customer's mobile in another
// format (138-0013-8000); the result list offers the customer; Enter opens
// the 360, which shows the vehicles, the open service order and deal and
// the timeline; filtered to voice it shows the one call with its record,
// to e-mail the one thread; "Load more" pages to the end. The agent edits
// the notes, adds an e-mail identity (full values are refused to an agent,
// audited), links a new vehicle and creates a
// follow-up, each asserted through the API or the database; Esc closes the
// 360 and gives the focus back to the search box.
func TestBrowserCustomer360(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const older = 22 // 3 + 22 = 25 items: a page of 20, then 5
	customer := history360(t, pool, older)
	web, _ := a.login(t, "lina@huadong.example")
	// A possible duplicate: the same e-mail on another record (synthetic).
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	code, body := post(t, sup, a.url+"/api/customers", supCSRF, `{"name":"Wang Wei (web form)","identities":[{"kind":"email","value":"wang.wei@example.cn"}]}`)
	want(t, "create the duplicate", code, body, 201, "")
	dup := field(t, body, "id").(string)

	agent, cancelAgent := chromedp.NewContext(root)
	defer cancelAgent()
	if err := chromedp.Do(agent); err != nil {
		t.Fatalf("open the console's tab: %v", err)
	}
	b := browserSteps{t: t, a: a}
	evaluate := func(expr string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(agent, 15*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	b.step(agent, "log in",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#presence`)),
		b.poll("connected", `document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`),
	)

	hit := fmt.Sprintf(`#search-results [data-testid=search-hit][data-customer="%s"]`, customer)
	b.step(agent, "/ focuses the search; the phone in another format finds the customer",
		pressSlash(),
		b.poll("the search box focused", `document.activeElement === document.getElementById('search')`),
		b.poll("the search box empty", `document.getElementById('search').value === ''`),
		chromedp.SendKeys(chromedp.CSS(`#search`), "138-0013-8000"),
		b.poll("the customer in the results", `!!document.querySelector('`+hit+`')`),
		b.poll("the first hit active", `document.querySelector('`+hit+`').getAttribute('aria-selected') === 'true'`),
	)
	if got := evaluate(`document.querySelector('` + hit + `').textContent`); !strings.Contains(got, "王伟 Wang Wei") || !strings.Contains(got, "phone") {
		t.Errorf("search hit = %q, want the customer's name and a phone match", got)
	}
	if got := evaluate(`document.getElementById('search').getAttribute('aria-expanded')`); got != "true" {
		t.Errorf("search box aria-expanded = %q, want true with results shown", got)
	}
	screenshot(t, agent, "console-search")

	b.step(agent, "Enter opens the customer 360",
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=c360]`)),
		b.poll("the name", `document.querySelector('[data-testid=c360-name]').textContent.includes('王伟 Wang Wei')`),
		b.poll("the vehicles", `document.querySelectorAll('[data-testid=c360-vehicle]').length === 2`),
		b.poll("the order", `document.querySelectorAll('[data-testid=c360-order]').length === 1`),
		b.poll("the deal", `document.querySelectorAll('[data-testid=c360-deal]').length === 1`),
		b.poll("a page of the timeline", `document.querySelectorAll('[data-testid=c360-timeline-item]').length === 20`),
	)
	if got := evaluate(`document.activeElement.id`); got != "c360-title" {
		t.Errorf("focus after opening the 360 is on #%s, want the 360's heading", got)
	}
	checks := []struct{ sel, want string }{
		{`[data-testid=c360-vehicle-list]`, "沪A12345"},
		{`[data-testid=c360-vehicle-list]`, "沪AD67890"},
		{`[data-testid=c360-vehicle-list]`, "Lavida"},
		{`[data-testid=c360-order-list]`, "SO-2026-0001"},
		{`[data-testid=c360-deal-list]`, "Volkswagen ID.4 CROZZ"},
		{`[data-testid=c360-profile-tier]`, "gold"},
		{`[data-testid=c360-identity-list]`, "138****8000"},
	}
	for _, c := range checks {
		if got := evaluate(`document.querySelector('` + c.sel + `').textContent`); !strings.Contains(got, c.want) {
			t.Errorf("%s = %q, want it to contain %q", c.sel, got, c.want)
		}
	}
	// Full numbers need the tenant's reveal role (supervisor by default):
	// the agent is refused, and the refusal is audited.
	b.step(agent, "an agent may not reveal",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-reveal]`)),
		b.poll("the refusal said", `document.querySelector('[data-testid=c360-identities-status]').textContent === 'Your role does not allow full numbers.'`),
	)
	if got := evaluate(`document.querySelector('[data-testid=c360-identity-list]').textContent`); strings.Contains(got, "13800138000") {
		t.Errorf("after a refused reveal the identities read %q", got)
	}
	var refused int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'customer.reveal_refused' AND target_id = $1`, customer).Scan(&refused)
	if refused != 1 {
		t.Errorf("audited refusals = %d, want 1", refused)
	}
	b.step(agent, "the possible duplicate listed",
		b.poll("the duplicate", `!!document.querySelector('[data-testid=c360-duplicate][data-customer="`+dup+`"]')`))
	if got := evaluate(`document.querySelector('[data-testid=c360-duplicate]').textContent`); !strings.Contains(got, "Wang Wei (web form)") || !strings.Contains(got, "same e-mail") {
		t.Errorf("the duplicate reads %q, want its name and the shared e-mail", got)
	}
	if got := evaluate(`String(document.querySelectorAll('[data-testid=c360-duplicate-merge]').length)`); got != "0" {
		t.Errorf("an agent's 360 offers %s merge buttons, want none (supervisors merge)", got)
	}
	if got := evaluate(`document.querySelector('[data-testid=c360-identity-list]').textContent`); strings.Contains(got, "13800138000") {
		t.Errorf("identities show the full number before any reveal: %q", got)
	}
	screenshot(t, agent, "console-360")

	b.step(agent, "filter the timeline to voice",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-filter][data-channel=voice]`)),
		b.poll("only the call", `(() => { const it = [...document.querySelectorAll('[data-testid=c360-timeline-item]')]; return it.length === 1 && it[0].dataset.channel === 'voice'; })()`),
	)
	call := evaluate(`document.querySelector('[data-testid=c360-call]').textContent`)
	for _, want := range []string{"inbound", "Waited 0:12", "talked 2:50", "held 0:30", "ended: hung up", "Recording available"} {
		if !strings.Contains(call, want) {
			t.Errorf("the call's record reads %q, want %q in it", call, want)
		}
	}
	if got := evaluate(`document.querySelector('[data-testid=c360-timeline-item]').textContent`); !strings.Contains(got, "Booked for Friday") {
		t.Errorf("the call's timeline item = %q, want its wrap-up note", got)
	}
	if got := evaluate(`document.querySelector('[data-testid=c360-filter][data-channel=voice]').getAttribute('aria-pressed')`); got != "true" {
		t.Errorf("voice filter aria-pressed = %q, want true", got)
	}
	screenshot(t, agent, "console-360-voice")
	b.step(agent, "filter the timeline to e-mail",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-filter][data-channel=email]`)),
		b.poll("only the thread", `(() => { const it = [...document.querySelectorAll('[data-testid=c360-timeline-item]')]; return it.length === 1 && it[0].dataset.channel === 'email' && it[0].textContent.includes('Brake pads quote'); })()`),
	)
	b.step(agent, "all channels, then load more to the end",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-filter][data-channel=""]`)),
		b.poll("the first page again", `document.querySelectorAll('[data-testid=c360-timeline-item]').length === 20`),
		chromedp.Click(chromedp.CSS(`[data-testid=c360-timeline-more]`)),
		b.poll("every item", fmt.Sprintf(`document.querySelectorAll('[data-testid=c360-timeline-item]').length === %d`, 3+older)),
		b.poll("the end said", `!document.querySelector('[data-testid=c360-timeline-end]').hidden && document.querySelector('[data-testid=c360-timeline-more]').hidden`),
	)
	if got := evaluate(`[...document.querySelectorAll('[data-testid=c360-timeline-item]')].pop().textContent`); !strings.Contains(got, fmt.Sprintf("Older question %d", older)) {
		t.Errorf("the last timeline item = %q, want the oldest chat", got)
	}

	b.step(agent, "dismissing needs a reason",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-duplicate-dismiss]`)),
		b.poll("the reason asked for", `document.querySelector('[data-testid=c360-duplicates-status]').textContent === 'Give a reason.'`),
		b.poll("the reason box focused", `document.activeElement === document.querySelector('[data-testid=c360-duplicate-reason]')`),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-duplicate-reason]`), "His father; same family e-mail"),
		chromedp.Click(chromedp.CSS(`[data-testid=c360-duplicate-dismiss]`)),
		b.poll("the duplicate gone", `document.querySelectorAll('[data-testid=c360-duplicate]').length === 0 && document.querySelector('[data-testid=c360-duplicate-list]').textContent.includes('No possible duplicates.')`),
	)
	var reason string
	if err := pool.QueryRow(context.Background(), `SELECT reason FROM duplicate_dismissals WHERE $1 IN (customer_a, customer_b) AND $2 IN (customer_a, customer_b)`, customer, dup).Scan(&reason); err != nil || reason != "His father; same family e-mail" {
		t.Errorf("stored dismissal reason = %q (%v), want the agent's", reason, err)
	}

	const notes = "Prefers WeChat in the evening. Asked for a brake quote by e-mail."
	b.step(agent, "edit the notes",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-edit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=c360-edit-notes]`)),
		chromedp.SetValue(chromedp.CSS(`[data-testid=c360-edit-notes]`), notes),
		chromedp.Click(chromedp.CSS(`[data-testid=c360-edit-save]`)),
		b.poll("the notes shown", `document.querySelector('[data-testid=c360-profile-notes]')?.textContent === `+jsString(notes)),
	)
	resp, body := get(t, web, a.url+"/api/customers/"+customer)
	var rec struct {
		Notes      string `json:"notes"`
		Name       string `json:"name"`
		Identities []struct{ Kind, Value string }
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil || resp.StatusCode != 200 || rec.Notes != notes || rec.Name != "王伟 Wang Wei" {
		t.Errorf("after the edit GET /api/customers/%s = %d notes %q name %q (%v), want the new notes and the name kept", customer, resp.StatusCode, rec.Notes, rec.Name, err)
	}

	b.step(agent, "add an e-mail identity",
		chromedp.SetValue(chromedp.CSS(`[data-testid=c360-identity-kind]`), "email"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-identity-value]`), "Wang.Wei.Work@Example.cn"),
		chromedp.Click(chromedp.CSS(`[data-testid=c360-identity-add]`)),
		b.poll("three identities listed", `document.querySelectorAll('[data-testid=c360-identity]').length === 3`),
		b.poll("the form emptied", `document.querySelector('[data-testid=c360-identity-value]').value === ''`),
	)
	var stored int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM customer_identities WHERE customer_id = $1 AND kind = 'email' AND value = 'wang.wei.work@example.cn'`, customer).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("stored e-mail identities wang.wei.work@example.cn = %d (%v), want 1 (normalised)", stored, err)
	}
	if shown := evaluate(`document.querySelector('[data-testid=c360-identity-list]').textContent`); strings.Contains(shown, "wang.wei.work@example.cn") {
		t.Errorf("the new e-mail shows unmasked: %q", shown)
	}

	b.step(agent, "link a new vehicle",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-vehicle-plate]`), "沪B99999"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-vehicle-make]`), "Tesla"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-vehicle-model]`), "Model Y"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-vehicle-year]`), "2024"),
		chromedp.SetValue(chromedp.CSS(`[data-testid=c360-vehicle-role]`), "driver"),
		chromedp.Click(chromedp.CSS(`[data-testid=c360-vehicle-link]`)),
		b.poll("three vehicles listed", `document.querySelectorAll('[data-testid=c360-vehicle]').length === 3`),
	)
	_, body = get(t, web, a.url+"/api/customers/"+customer+"/vehicles")
	var vs []struct {
		Plate, Make, Model string
		Year               int
		Customers          []struct{ CustomerID, Role string } `json:"customers"`
	}
	json.Unmarshal([]byte(body), &vs)
	linked := false
	for _, v := range vs {
		if v.Plate == "沪B99999" && v.Make == "Tesla" && v.Model == "Model Y" && v.Year == 2024 {
			linked = true
		}
	}
	if !linked {
		t.Errorf("the customer's vehicles = %s, want the Tesla Model Y 沪B99999", body)
	}

	b.step(agent, "create a follow-up",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-followup-note]`), "Send the brake quote"),
		chromedp.Click(chromedp.CSS(`[data-testid=c360-followup-create]`)),
		b.poll("the follow-up listed", `[...document.querySelectorAll('[data-testid=c360-followup]')].some(e => e.textContent.includes('Send the brake quote'))`),
	)
	var fuKind, fuAgent string
	if err := pool.QueryRow(context.Background(), `
		SELECT f.kind, u.email FROM follow_ups f JOIN users u ON u.id = f.assigned_to
		WHERE f.customer_id = $1 AND f.note = 'Send the brake quote' AND f.done_at IS NULL AND f.due_at > now()`, customer).Scan(&fuKind, &fuAgent); err != nil || fuKind != "reminder" || fuAgent != "lina@huadong.example" {
		t.Errorf("stored follow-up: kind %q for %q (%v), want an open reminder for the agent, due later", fuKind, fuAgent, err)
	}
	screenshot(t, agent, "console-360-edited")

	b.step(agent, "Esc closes the 360; the focus goes back to the search",
		chromedp.Focus(chromedp.CSS(`[data-testid=c360-edit]`)),
		chromedp.KeyEvent(kb.Escape),
		b.poll("the 360 hidden", `document.querySelector('[data-testid=c360]').hidden`),
		b.poll("the focus in the search box", `document.activeElement === document.getElementById('search')`),
	)
	if strings.Contains(a.logs.String(), "138-0013-8000") || strings.Contains(a.logs.String(), "wang.wei.work") {
		t.Error("what the agent searched or added is in the server's logs")
	}
}

// pressSlash presses "/" as a keyboard does: one keyDown carrying its
// text, so that a page preventing the keydown gets no character.
// (chromedp's KeyEvent sends the character as an event of its own, which
// no keydown handler can prevent.)
func pressSlash() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "/", Code: "Slash", Text: "/",
			UnmodifiedText: "/", WindowsVirtualKeyCode: 191, NativeVirtualKeyCode: 191}
		if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, up)
		return err
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserSupervisorMergesFrom360: a supervisor finds the demo customer
// by the mobile written the international way (+86 138 0013 8000), sees
// the record that shares its e-mail among the possible duplicates with a
// merge button, is asked for a reason, and merges it: the duplicate is
// merged into the customer (database), with the reason on the merge. The
// supervisor may see the full values (the demo tenant's reveal role), and
// the view is audited.
func TestBrowserSupervisorMergesFrom360(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var customer string
	if err := pool.QueryRow(context.Background(), `SELECT id::text FROM customers WHERE name = '王伟 Wang Wei'`).Scan(&customer); err != nil {
		t.Fatal(err)
	}
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	code, body := post(t, sup, a.url+"/api/customers", supCSRF, `{"name":"Wang Wei (web form)","identities":[{"kind":"email","value":"wang.wei@example.cn"}]}`)
	want(t, "create the duplicate", code, body, 201, "")
	dup := field(t, body, "id").(string)

	tab, cancelTab := chromedp.NewContext(root)
	defer cancelTab()
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open the console's tab: %v", err)
	}
	b := browserSteps{t: t, a: a}
	hit := fmt.Sprintf(`#search-results [data-testid=search-hit][data-customer="%s"]`, customer)
	b.step(tab, "log in to the console",
		chromedp.Navigate(a.url+"/login?next=/console"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "supervisor@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#search`)),
		b.poll("the console's page", `location.pathname === '/console' && document.readyState === 'complete'`),
	)
	b.step(tab, "find the customer and open the 360",
		chromedp.SendKeys(chromedp.CSS(`#search`), "+86 138 0013 8000"),
		b.poll("the customer in the results", `document.querySelector('`+hit+`')?.getAttribute('aria-selected') === 'true'`),
		chromedp.KeyEvent(kb.Enter),
		b.poll("the duplicate with a merge button", `!!document.querySelector('[data-testid=c360-duplicate][data-customer="`+dup+`"] [data-testid=c360-duplicate-merge]')`),
	)
	b.step(tab, "merging needs a reason",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-duplicate-merge]`)),
		b.poll("the reason asked for", `document.querySelector('[data-testid=c360-duplicates-status]').textContent === 'Give a reason.'`),
	)
	b.step(tab, "merge with a reason",
		chromedp.SendKeys(chromedp.CSS(`[data-testid=c360-duplicate-reason]`), "Same person: web form without a phone"),
		chromedp.Click(chromedp.CSS(`[data-testid=c360-duplicate-merge]`)),
		b.poll("the 360 redrawn without the duplicate", `document.querySelector('[data-testid=c360-duplicate-list]')?.textContent.includes('No possible duplicates.')`),
	)
	b.step(tab, "a supervisor reveals the full values",
		chromedp.Click(chromedp.CSS(`[data-testid=c360-reveal]`)),
		b.poll("the full mobile", `document.querySelector('[data-testid=c360-identity-list]').textContent.includes('+8613800138000')`),
	)
	var reveals int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'customer.reveal' AND target_id = $1`, customer).Scan(&reveals)
	if reveals != 1 {
		t.Errorf("audited reveals = %d, want 1", reveals)
	}
	screenshot(t, tab, "console-360-merged")
	var into, reason string
	if err := pool.QueryRow(context.Background(), `
		SELECT COALESCE(c.merged_into::text, ''), m.reason FROM customers c
		JOIN customer_merges m ON m.survivor_id = c.merged_into AND c.id = ANY (m.merged_ids)
		WHERE c.id = $1`, dup).Scan(&into, &reason); err != nil || into != customer || reason != "Same person: web form without a phone" {
		t.Errorf("duplicate merged into %q with reason %q (%v), want into %s with the supervisor's reason", into, reason, err, customer)
	}
}
