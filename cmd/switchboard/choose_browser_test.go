package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestBrowserAgentChoosesTheCustomer drives the console in headless
// Chromium: two customers share an e-mail (synthetic); a visitor chats with
// it (over the widget's socket); the offer card lists both as possible
// customers, without buttons (the agent does not hold it yet); after the
// accept, the contact's card lists them with a "This is the customer"
// button each; the agent picks one with the keyboard (focus, Enter) and
// the card then names that customer, the candidates gone, and the contact
// row has the customer.
func TestBrowserAgentChoosesTheCustomer(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	ids := map[string]string{}
	for _, name := range []string{"Choose Zhao", "Choose Qian"} {
		code, body := post(t, sup, a.url+"/api/customers", supCSRF,
			`{"name":"`+name+`","identities":[{"kind":"email","value":"browser.household@example.com"}]}`)
		want(t, "create "+name, code, body, 201, "")
		ids[name] = field(t, body, "id").(string)
	}

	agent, cancelAgent := chromedp.NewContext(root)
	defer cancelAgent()
	// The tab lives as long as the context of its first run: open it
	// without the steps' timeouts.
	if err := chromedp.Do(agent); err != nil {
		t.Fatalf("open the console's tab: %v", err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(agent, 45*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			screenshot(t, agent, "choose-failed")
			ectx, ecancel := context.WithTimeout(agent, 5*time.Second)
			body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
			ecancel()
			t.Fatalf("%s: %v\npage text:\n%s\nserver log tail:\n%s", what, err, body, tail(a.logs.String(), 3000))
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
	evaluate := func(expr string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(agent, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	step("log in and go available",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#presence`)),
		poll("connected", `document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`),
		chromedp.SetValue(chromedp.CSS(`#presence`), "available"),
		poll("presence change", `document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`),
	)
	// Going Available is acked before the visitor writes, or the offer
	// could go nowhere for a sweep interval.
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// A change dispatched while the console was still settling (a busy CI
	// machine) can be lost; choose Available again each second until the
	// server has stored it.
	for deadline, again := time.Now().Add(20*time.Second), time.Now().Add(time.Second); ; time.Sleep(100 * time.Millisecond) {
		var state string
		pool.QueryRow(context.Background(), `SELECT p.state FROM agent_presence p JOIN users u ON u.id = p.agent_id WHERE u.email = 'lina@huadong.example'`).Scan(&state)
		if state == "available" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent is %q, want available", state)
		}
		if time.Now().After(again) {
			evaluate(`(() => { const p = document.querySelector('#presence'); p.value = 'available'; p.dispatchEvent(new Event('change', {bubbles: true})); return 'ok'; })()`)
			again = time.Now().Add(time.Second)
		}
	}

	v := a.visitor(t, "Household", "browser.household@example.com")
	v.send(map[string]any{"type": "message", "client_id": "m-1", "body": "Which of us is booked?"})
	v.expect("ack", nil)

	step("the offer lists both possible customers",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=offer] [data-testid=candidate]`)),
		poll("two candidates", `document.querySelectorAll('[data-testid=offer] [data-testid=candidate]').length === 2`))
	offer := evaluate(`document.querySelector('[data-testid=offer]').innerText`)
	for _, name := range []string{"Choose Zhao", "Choose Qian"} {
		if !strings.Contains(offer, name) {
			t.Errorf("offer card lacks %q:\n%s", name, offer)
		}
	}
	if n := evaluate(`String(document.querySelectorAll('[data-testid=offer] button[data-action=choose-customer]').length)`); n != "0" {
		t.Errorf("offer card has %s choose buttons, want none before the accept", n)
	}
	screenshot(t, agent, "console-offer-candidates")

	pick := fmt.Sprintf(`aside.side li[data-customer="%s"] button[data-action=choose-customer]`, ids["Choose Qian"])
	step("accept; the card has a button per candidate",
		chromedp.Click(chromedp.CSS(`button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(pick)),
		poll("two buttons", `document.querySelectorAll('aside.side button[data-action=choose-customer]').length === 2`))
	if got := evaluate(`document.querySelector('` + pick + `').textContent`); got != "This is the customer" {
		t.Errorf("choose button says %q, want This is the customer", got)
	}
	screenshot(t, agent, "console-candidates")
	step("choose with the keyboard",
		chromedp.Focus(chromedp.CSS(pick)),
		chromedp.KeyEvent(kb.Enter),
		poll("the chosen customer on the card", `document.querySelector('aside.side [data-testid=customer-name]')?.textContent.trim() === 'Choose Qian'`),
		poll("the candidates gone", `document.querySelectorAll('aside.side [data-testid=candidate]').length === 0`))
	if tab := evaluate(`document.querySelector('[data-testid=contact-tab]').textContent`); !strings.Contains(tab, "Choose Qian") {
		t.Errorf("contact tab = %q, want the chosen customer's name", tab)
	}
	screenshot(t, agent, "console-customer-chosen")

	var customer string
	pool.QueryRow(context.Background(), `SELECT COALESCE(customer_id::text, '') FROM contacts WHERE state = 'active'`).Scan(&customer)
	if customer != ids["Choose Qian"] {
		t.Errorf("contact's customer_id = %q, want %s", customer, ids["Choose Qian"])
	}
}
