package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestAdminBrowserEditsAQueue: an admin logs in to Chromium, opens /admin,
// changes the Enquiries queue's wrap-up time in its form and saves. The
// change is read back through GET /api/queues, shows in the page's audit
// list, and takes effect: the next chat an agent closes in Enquiries gets a
// wrap_up_until of its close time plus the new wrap-up. An invalid agent
// capacity shows the API's message on the page and changes nothing; an
// agent gets 403 on /admin.
func TestAdminBrowserEditsAQueue(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	ctx := context.Background()
	admin, _ := a.login(t, "admin@huadong.example")
	lina, _ := a.login(t, "lina@huadong.example")

	// An agent is refused the page.
	resp, err := lina.Get(a.url + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /admin as an agent: status %d, want 403", resp.StatusCode)
	}

	queue := func() map[string]any {
		t.Helper()
		code, body := call(t, admin, "GET", a.url+"/api/queues", "", "")
		var qs []map[string]any
		if err := json.Unmarshal([]byte(body), &qs); code != 200 || err != nil {
			t.Fatalf("GET /api/queues: %d %s", code, body)
		}
		for _, q := range qs {
			if q["name"] == "Enquiries" {
				return q
			}
		}
		t.Fatal("no Enquiries queue")
		return nil
	}
	before := queue()
	oldWrap := int(before["wrap_up_seconds"].(float64))
	newWrap := 9
	if oldWrap >= 7 && oldWrap <= 11 {
		newWrap = oldWrap + 20 // far enough from the old value to tell them apart
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
			screenshot(t, tab, "admin-failed")
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
	const enquiries = `form[data-kind=queue][data-name=Enquiries]`

	step("the admin opens /admin",
		chromedp.Navigate(a.url+"/login?next=/admin"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(enquiries)),
		poll("the current wrap-up in the form", fmt.Sprintf(`document.querySelector('%s [name=wrap_up_seconds]').value === '%d'`, enquiries, oldWrap)),
		poll("a labelled wrap-up field", fmt.Sprintf(`document.querySelector('%s [name=wrap_up_seconds]').labels[0].textContent.includes('Wrap-up time')`, enquiries)),
	)

	step("an invalid capacity shows the API's message",
		chromedp.SetValue(chromedp.CSS(`form[data-kind=agent] [name=chat]`), "99"),
		chromedp.Click(chromedp.CSS(`form[data-kind=agent] button[type=submit]`)),
		poll("the error", `(document.querySelector('form[data-kind=agent] [data-testid=form-status]')?.textContent ?? '').includes('capacity must be between')`),
		poll("shown as an error", `document.querySelector('form[data-kind=agent] [data-testid=form-status]').classList.contains('error')`),
	)

	step("the admin changes Enquiries' wrap-up",
		chromedp.SetValue(chromedp.CSS(enquiries+` [name=wrap_up_seconds]`), fmt.Sprint(newWrap)),
		chromedp.Click(chromedp.CSS(enquiries+` button[type=submit]`)),
		poll("saved", fmt.Sprintf(`document.querySelector('%s [data-testid=form-status]').textContent === 'Saved.'`, enquiries)),
		poll("the audit row", `[...document.querySelectorAll('[data-testid=audit-row]')].some(r => r.textContent.includes('queue.update') && r.textContent.includes('Enquiries') && r.textContent.includes('wrap_up'))`),
	)
	screenshot(t, tab, "admin")

	after := queue()
	if got := int(after["wrap_up_seconds"].(float64)); got != newWrap {
		t.Fatalf("GET /api/queues: Enquiries wrap_up_seconds = %d, want %d", got, newWrap)
	}
	for _, k := range []string{"strategy", "sla_seconds", "offer_timeout_seconds", "max_length"} {
		if fmt.Sprint(after[k]) != fmt.Sprint(before[k]) {
			t.Errorf("saving the form changed %s from %v to %v", k, before[k], after[k])
		}
	}
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var badSaved int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM agents WHERE capacity_chat = 99`).Scan(&badSaved); err != nil || badSaved != 0 {
		t.Errorf("agents with the refused capacity: %d (%v), want 0", badSaved, err)
	}
	// The page sends only what the admin changed, so the audit says so.
	var data string
	if err := pool.QueryRow(ctx, `SELECT data::text FROM audit_log WHERE action = 'queue.update' AND target_id = $1 ORDER BY id DESC LIMIT 1`,
		after["id"]).Scan(&data); err != nil {
		t.Fatalf("the audit entry: %v", err)
	}
	if want := fmt.Sprintf(`{"wrap_up_seconds": %d}`, newWrap); data != want {
		t.Errorf("audit data = %s, want %s", data, want)
	}

	// The change takes effect: lina takes the next chat and closes it; the
	// console is told a wrap-up deadline of the close plus the new time.
	agent := a.availableAgent(t, "lina@huadong.example")
	chatTo(t, a, "admin-wrap@example.com")
	o := agent.expect("offer", nil)
	agent.send(map[string]any{"type": "accept", "id": "a", "offer_id": o["offer_id"]})
	contact := path(agent.expect("assigned", nil), "contact", "id").(string)
	sent := time.Now()
	agent.send(map[string]any{"type": "close", "id": "c", "contact_id": contact})
	closed := agent.expect("contact_closed", func(f map[string]any) bool { return f["contact_id"] == contact })
	got := time.Now()
	until, err := time.Parse(time.RFC3339Nano, fmt.Sprint(closed["wrap_up_until"]))
	if err != nil {
		t.Fatalf("contact_closed wrap_up_until = %v: %v", closed["wrap_up_until"], err)
	}
	wrap := time.Duration(newWrap) * time.Second
	// The server closed it between sending and hearing back; a second of
	// slack either side for clock rounding.
	if until.Before(sent.Add(wrap-time.Second)) || until.After(got.Add(wrap+time.Second)) {
		t.Errorf("wrap_up_until = %s, want between %s and %s (close + %v; the old wrap-up was %d s)",
			until.Format(time.RFC3339Nano), sent.Add(wrap).Format(time.RFC3339Nano), got.Add(wrap).Format(time.RFC3339Nano), wrap, oldWrap)
	}
}
