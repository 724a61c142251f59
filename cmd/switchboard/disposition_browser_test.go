package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDispositionSelect: the console's wrap-up step shows the
// queue's codes as a select; Done without a choice sends nothing and keeps
// the card; with one, the contact is wrapped up with that code.
func TestBrowserDispositionSelect(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	pool := wrapUpSetup(t, a, 60*time.Second)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `UPDATE queues SET dispositions = '{"Booked service","Quote sent","No action"}' WHERE name = 'Enquiries'`); err != nil {
		t.Fatal(err)
	}
	tab, cancel := chromedp.NewContext(root)
	defer cancel()
	// The tab's console must be drained (as browser_test.go's watch does),
	// or the tab stalls.
	var logMu sync.Mutex
	var browserLog []string
	msgs := chromedp.Console(tab)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			logMu.Lock()
			browserLog = append(browserLog, m.String())
			logMu.Unlock()
		}
	}()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(tab, 45*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			screenshot(t, tab, "disposition-failed")
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("%s: %v\nbrowser console:\n%s\nserver log tail:\n%s", what, err, strings.Join(browserLog, "\n"), tail(a.logs.String(), 3000))
		}
	}
	poll := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	step("log in and go available",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=conn]`)),
		poll("connected", `document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`),
		chromedp.SetValue(chromedp.CSS(`#presence`), "available"),
		poll("presence change", `document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`),
	)
	// The chat must find her available, or it waits for a sweep.
	var presence string
	for i := 0; i < 50 && presence != "available"; i++ {
		time.Sleep(100 * time.Millisecond)
		pool.QueryRow(ctx, `SELECT state FROM agent_presence WHERE agent_id = (SELECT id FROM users WHERE email = 'lina@huadong.example')`).Scan(&presence)
	}
	chatTo(t, a, "dispo.browser@example.com")
	step("the offer pops up", chromedp.WaitVisible(chromedp.CSS(`[data-testid=offer]`)))
	step("accept",
		chromedp.Click(chromedp.CSS(`button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`textarea[data-testid=chat-input]`)),
	)
	step("close",
		chromedp.Click(chromedp.CSS(`button[data-testid=close]`)),
		chromedp.WaitVisible(chromedp.CSS(`select[data-testid=disposition]`)),
	)
	optsCtx, optsCancel := context.WithTimeout(tab, 20*time.Second)
	options, err := chromedp.Run(optsCtx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('select[data-testid=disposition] option')].map(o => o.value)`))
	optsCancel()
	if want := []string{"", "Booked service", "Quote sent", "No action"}; err != nil || fmt.Sprint(options) != fmt.Sprint(want) {
		t.Errorf("disposition options = %q, %v; want %q", options, err, want)
	}
	step("Done without a code keeps the card",
		chromedp.Click(chromedp.CSS(`button[data-testid=done]`)),
		poll("Done still enabled", `!document.querySelector('button[data-testid=done]').disabled`),
	)
	var stored *string
	pool.QueryRow(ctx, `SELECT disposition FROM contacts c JOIN queues q ON q.id = c.queue_id WHERE q.name = 'Enquiries' ORDER BY c.arrived_at DESC LIMIT 1`).Scan(&stored)
	if stored != nil {
		t.Errorf("disposition after Done without a choice = %q, want none", *stored)
	}
	screenshot(t, tab, "console-disposition")
	// A code the queue no longer has (an admin changed the list meanwhile)
	// is refused by the server; the console enables Done again.
	if _, err := pool.Exec(ctx, `UPDATE queues SET dispositions = '{"Booked service","Quote sent"}' WHERE name = 'Enquiries'`); err != nil {
		t.Fatal(err)
	}
	step("a code no longer listed is refused",
		chromedp.SetValue(chromedp.CSS(`select[data-testid=disposition]`), "No action"),
		chromedp.Click(chromedp.CSS(`button[data-testid=done]`)),
		poll("the refusal shown", `document.body.innerText.includes('not one of the queue')`),
		poll("Done enabled again", `!document.querySelector('button[data-testid=done]').disabled`),
	)
	step("choose a code and press Done",
		chromedp.SetValue(chromedp.CSS(`select[data-testid=disposition]`), "Quote sent"),
		chromedp.Click(chromedp.CSS(`button[data-testid=done]`)),
		poll("the card gone", `document.querySelectorAll('[data-testid=contact-tab]').length === 0`),
	)
	var got string
	if err := pool.QueryRow(ctx, `
		SELECT c.disposition FROM contacts c JOIN assignments a ON a.contact_id = c.id
		WHERE a.ended_at IS NOT NULL ORDER BY a.started_at DESC LIMIT 1`).Scan(&got); err != nil || got != "Quote sent" {
		t.Errorf("stored disposition = %q, %v; want Quote sent", got, err)
	}
}
