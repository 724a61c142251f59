package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// TestBrowserAgentTakesACall drives the console's call panel in headless
// Chromium against the real app and a fake PBX behind the generic CTI
// webhook (newPhoneRig, phone_test.go): Li Na is Available; 王伟 Wang Wei
// calls the hotline; she accepts the offer in the page; the PBX gets the
// signed connect for her extension; its ringing and answer events turn the
// panel to "Ringing your phone" and "On call" with a talk timer computed
// from the answer's time; Hold and Resume in the page reach the PBX as
// signed commands and its hold/unhold events change the panel; the hang-up
// starts the wrap-up with the notes typed during the call; Done closes it
// and saves them as the contact's wrap-up note.
func TestBrowserAgentTakesACall(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	rig := newPhoneRig(t, a)

	tab, cancelTab := chromedp.NewContext(root)
	defer cancelTab()
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
	fail := func(what string, err error) {
		t.Helper()
		screenshot(t, tab, "call-failed")
		ectx, ecancel := context.WithTimeout(tab, 5*time.Second)
		body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
		ecancel()
		logMu.Lock()
		bl := strings.Join(browserLog, "\n")
		logMu.Unlock()
		rig.pbx.mu.Lock()
		cmds := fmt.Sprintf("%+v", rig.pbx.got)
		rig.pbx.mu.Unlock()
		t.Fatalf("%s: %v\npage text:\n%s\nbrowser console:\n%s\nPBX commands: %s\nserver log tail:\n%s", what, err, body, bl, cmds, tail(a.logs.String(), 3000))
	}
	// Waits are generous: the machine is shared and Chromium is slow under load.
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(what, err)
		}
	}
	poll := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	eval := func(expr string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			fail("evaluate "+expr, err)
		}
		return v
	}
	post := func(ev map[string]any) {
		t.Helper()
		if status, out := rig.post(t, ev); status != http.StatusOK {
			t.Fatalf("PBX event %v answered %d %v", ev, status, out)
		}
	}
	stateIs := func(words string) chromedp.Action[chromedp.Void] {
		return poll("the call panel to say "+words,
			`document.querySelector('[data-testid=call-state]')?.textContent === `+strconv.Quote(words))
	}

	step("log in",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#presence`)),
	)
	step("go available",
		poll("connected", `document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`),
		chromedp.SetValue(chromedp.CSS(`#presence`), "available"),
		poll("presence change", `document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`),
	)

	// 王伟 Wang Wei calls from his mobile; his open service order takes him
	// past the menu, with Li Na (his advisor) preferred.
	const callID = "web-call-1"
	post(map[string]any{"event": "new_call", "call_id": callID, "from": "138 0013 8000", "to": "02160009000", "direction": "inbound"})
	step("the call's offer pops up",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=offer]`)),
		poll("the caller's screen-pop on the offer", `document.querySelector('[data-testid=offer-customer-name]')?.textContent.trim() === '王伟 Wang Wei'`),
	)
	if ch := eval(`document.querySelector('[data-testid=offer] .chan').textContent`); ch != "voice" {
		t.Errorf("offer channel = %q, want voice", ch)
	}

	step("accept in the page",
		chromedp.Click(chromedp.CSS(`button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=call-panel]`)),
		stateIs("Connecting to your phone…"),
	)
	connect := rig.pbx.next(t, "connect")
	if connect.CallID != callID || connect.Extension != "8001" {
		t.Errorf("connect command = %+v, want %s to extension 8001", connect, callID)
	}
	// A live call has no Close: the phone decides when it is over.
	if v := eval(`String(document.querySelector('[data-testid=close]')?.offsetParent === null)`); v != "true" {
		t.Errorf("Close is shown while the call is live")
	}
	if v := eval(`String(document.querySelector('[data-testid=transfer]')?.offsetParent !== null)`); v != "true" {
		t.Errorf("Transfer is not offered on a live call")
	}

	post(map[string]any{"event": "ringing", "call_id": callID, "extension": "8001"})
	step("the phone rings", stateIs("Ringing your phone"))

	// The PBX says she answered 90 s ago (a late event): the talk timer
	// counts from that answer, not from when the page learnt of it.
	answered := time.Now().Add(-90 * time.Second).UTC()
	post(map[string]any{"event": "answer", "call_id": callID, "extension": "8001", "at": answered.Format(time.RFC3339)})
	step("on call", stateIs("On call"),
		poll("the talk timer", `/^Talk \d\d:\d\d/.test(document.querySelector('[data-testid=call-timer]')?.textContent || '')`))
	talk := func() int {
		m := regexp.MustCompile(`Talk (\d\d):(\d\d)`).FindStringSubmatch(eval(`document.querySelector('[data-testid=call-timer]').textContent`))
		if m == nil {
			t.Fatalf("no talk time on the timer")
		}
		min, _ := strconv.Atoi(m[1])
		sec, _ := strconv.Atoi(m[2])
		return min*60 + sec
	}
	first := talk()
	if first < 90 || first > int(time.Since(answered).Seconds())+2 {
		t.Errorf("talk timer shows %d s, want 90 s since the PBX's answer plus the time since", first)
	}
	step("the timer runs", poll("the talk timer to move on",
		fmt.Sprintf(`(() => { const m = /Talk (\d\d):(\d\d)/.exec(document.querySelector('[data-testid=call-timer]').textContent); return m && (+m[1]) * 60 + (+m[2]) > %d; })()`, first)))
	if v := eval(`String(document.querySelector('[data-testid=close]')?.offsetParent === null)`); v != "true" {
		t.Errorf("Close is shown while the call is live")
	}

	const notes = "Asked about the brake pads; wants a call on Friday"
	step("write notes during the call", chromedp.SendKeys(chromedp.CSS(`textarea[data-testid=call-notes]`), notes))

	// Hold in the page: the PBX gets the signed command; the panel changes
	// when the PBX reports the hold.
	step("press Hold", poll("Hold enabled", `(() => { const b = document.querySelector('[data-testid=call-hold]'); return !b.disabled && b.textContent === 'Hold'; })()`),
		chromedp.Click(chromedp.CSS(`button[data-testid=call-hold]`)))
	hold := rig.pbx.next(t, "hold")
	if hold.CallID != callID || hold.Extension != "8001" {
		t.Errorf("hold command = %+v, want %s at 8001", hold, callID)
	}
	post(map[string]any{"event": "hold", "call_id": callID, "extension": "8001"})
	step("on hold", stateIs("On hold"),
		poll("the hold timer", `/^On hold \d\d:\d\d · talk \d\d:\d\d$/.test(document.querySelector('[data-testid=call-timer]')?.textContent || '')`),
		poll("Resume offered", `(() => { const b = document.querySelector('[data-testid=call-hold]'); return !b.disabled && b.textContent === 'Resume'; })()`))
	screenshot(t, tab, "console-call-held")

	step("press Resume", chromedp.Click(chromedp.CSS(`button[data-testid=call-hold]`)))
	if unhold := rig.pbx.next(t, "unhold"); unhold.CallID != callID {
		t.Errorf("unhold command = %+v, want %s", unhold, callID)
	}
	post(map[string]any{"event": "unhold", "call_id": callID, "extension": "8001"})
	post(map[string]any{"event": "recording", "call_id": callID, "recording_url": "https://pbx.example.cn/rec/web-call-1.mp3"})
	step("back on call with a recording", stateIs("On call"),
		poll("the recording noted", `document.querySelector('[data-testid=call-flags]')?.textContent.includes('Recording available')`))
	screenshot(t, tab, "console-call")

	// Never a full number on the page: the screen-pop masks it.
	if page := eval(`document.body.innerText`); strings.Contains(page, "13800138000") || strings.Contains(page, "0013 8000") {
		t.Errorf("the caller's full number is on the page")
	}

	// The caller hangs up: the wrap-up starts by itself, with the notes.
	post(map[string]any{"event": "hangup", "call_id": callID, "cause": "normal"})
	step("the wrap-up", chromedp.WaitVisible(chromedp.CSS(`[data-testid=wrap-up-step]`)),
		poll("the wrap-up heading", `document.querySelector('.work h3')?.textContent.startsWith('Call ended — wrap up')`),
		poll("the call's summary", `/^Talk \d\d:\d\d/.test(document.querySelector('[data-testid=call-summary]')?.textContent || '')`))
	if got := eval(`document.querySelector('textarea[data-testid=wrap-up]').value`); got != notes {
		t.Errorf("wrap-up note = %q, want the call's notes %q", got, notes)
	}
	if w := eval(`document.querySelector('.work').innerText`); strings.Contains("\n"+w+"\n", "\nnull\n") {
		t.Errorf("the wrap-up step shows a stray null:\n%s", w)
	}
	if s := eval(`document.querySelector('[data-testid=call-summary]').textContent`); !strings.Contains(s, "Recording available") {
		t.Errorf("call summary = %q, want the recording noted", s)
	}
	screenshot(t, tab, "console-call-wrap-up")

	step("Done", chromedp.Click(chromedp.CSS(`button[data-testid=done]`)),
		poll("the card gone", `document.querySelectorAll('[data-testid=contact-tab]').length === 0`))
	var saved string
	if err := rig.pool.QueryRow(context.Background(), `SELECT c.wrap_up FROM contacts c JOIN calls k ON k.contact_id = c.id
		WHERE k.call_id = $1`, callID).Scan(&saved); err != nil || saved != notes {
		t.Errorf("contact's wrap-up note = %q (%v), want %q", saved, err, notes)
	}
}

// TestBrowserCallWithdrawnAndObservedRing: an accepted call whose phone
// does not answer leaves the workspace with a toast that says so; on an
// observe-mode connector (the PBX routes) a ring at Li Na's extension shows
// the caller on a card without Accept, and her answer on the phone turns it
// into the call panel.
func TestBrowserCallWithdrawnAndObservedRing(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	rig := newPhoneRig(t, a)
	observer, observerSecret := observeConnector(t, rig)

	tab, cancelTab := chromedp.NewContext(root)
	defer cancelTab()
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
		ctx, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			screenshot(t, tab, "call-withdrawn-failed")
			ectx, ecancel := context.WithTimeout(tab, 5*time.Second)
			body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
			ecancel()
			logMu.Lock()
			bl := strings.Join(browserLog, "\n")
			logMu.Unlock()
			t.Fatalf("%s: %v\npage text:\n%s\nbrowser console:\n%s\nserver log tail:\n%s", what, err, body, bl, tail(a.logs.String(), 3000))
		}
	}
	poll := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	post := func(connector, secret string, ev map[string]any) {
		t.Helper()
		if status, out := rig.postAs(t, connector, secret, ev); status != http.StatusOK {
			t.Fatalf("PBX event %v answered %d %v", ev, status, out)
		}
	}
	control := rig.connector.String()

	step("log in",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#presence`)))
	step("go available",
		poll("connected", `document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`),
		chromedp.SetValue(chromedp.CSS(`#presence`), "available"),
		poll("presence change", `document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`),
	)

	// Control mode: she accepts, her phone rings out.
	post(control, rig.secret, map[string]any{"event": "new_call", "call_id": "web-call-2", "from": "138 0013 8000", "to": "02160009000"})
	step("accept the call",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=offer] button[data-action=accept]`)),
		chromedp.Click(chromedp.CSS(`button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=call-panel]`)))
	rig.pbx.next(t, "connect")
	// Toasts go after 6 s, which a loaded machine may take to poll: the
	// page records every toast shown.
	step("record toasts", poll("the toast recorder", `(() => { window.__toasts = [];
		new MutationObserver((ms) => ms.forEach((m) => m.addedNodes.forEach((n) => window.__toasts.push(n.textContent))))
			.observe(document.getElementById('toasts'), { childList: true }); return true; })()`))
	post(control, rig.secret, map[string]any{"event": "hangup", "call_id": "web-call-2", "extension": "8001", "cause": "no_answer"})
	step("the call leaves with a reason",
		poll("the toast", `window.__toasts.some((t) => t.includes('Your phone did not answer; the call went back to the queue.'))`),
		poll("the card gone", `document.querySelectorAll('[data-testid=contact-tab]').length === 0 && !document.querySelector('[data-testid=call-panel]')`))
	screenshot(t, tab, "console-call-withdrawn")
	// The caller gives up; whatever was offered again is withdrawn.
	post(control, rig.secret, map[string]any{"event": "hangup", "call_id": "web-call-2", "cause": "abandoned"})
	step("no offer left", poll("offers gone", `document.querySelectorAll('[data-testid=offer]').length === 0`))

	// Observe mode: the PBX rings her extension.
	post(observer, observerSecret, map[string]any{"event": "new_call", "call_id": "web-call-3", "from": "138 0013 8000", "to": "02160009001"})
	post(observer, observerSecret, map[string]any{"event": "ringing", "call_id": "web-call-3", "extension": "8001"})
	step("the ring card",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=call-ringing]`)),
		poll("the caller on the ring card", `document.querySelector('[data-testid=call-ringing] [data-testid=ringing-customer-name]')?.textContent.trim() === '王伟 Wang Wei'`),
		poll("answer on the phone", `document.querySelector('[data-testid=call-ringing] [data-testid=answer-on-phone]')?.textContent === 'Answer on your phone'`))
	if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid=call-ringing] button[data-action=accept]').length`)); err != nil || n != 0 {
		t.Errorf("the ring card has %d Accept buttons (%v), want none", n, err)
	}
	screenshot(t, tab, "console-call-ringing")
	post(observer, observerSecret, map[string]any{"event": "answer", "call_id": "web-call-3", "extension": "8001"})
	step("answered on the phone",
		poll("the ring card gone", `!document.querySelector('[data-testid=call-ringing]')`),
		poll("on call", `document.querySelector('[data-testid=call-state]')?.textContent === 'On call'`))
	// Hold from the console cannot work when the PBX routes: the agent is
	// told to use the phone.
	step("hold is refused",
		chromedp.Click(chromedp.CSS(`button[data-testid=call-hold]`)),
		poll("the not-supported toast", `window.__toasts.some((t) => t.includes('use your phone’s hold button'))`),
		poll("the hint by the button", `document.querySelector('[data-testid=call-hold-note]').textContent.includes('hold button') && document.querySelector('[data-testid=call-hold]').disabled`))
	post(observer, observerSecret, map[string]any{"event": "hangup", "call_id": "web-call-3", "cause": "normal"})
	step("the wrap-up", chromedp.WaitVisible(chromedp.CSS(`[data-testid=wrap-up-step]`)),
		chromedp.Click(chromedp.CSS(`button[data-testid=done]`)),
		poll("the card gone", `document.querySelectorAll('[data-testid=contact-tab]').length === 0`))
}

// observeConnector adds a generic connector in observe mode to the rig's
// tenant, with its own hotline number and Li Na's extension on it.
func observeConnector(t *testing.T, rig *phoneRig) (string, string) {
	t.Helper()
	ctx := context.Background()
	sealer, err := org.NewSealer([]byte("test-secret-0123456789"), "mailbox credentials") // startApp's secret, run.go's purpose
	if err != nil {
		t.Fatal(err)
	}
	orgs := org.NewStore(rig.pool, org.WithSealer(sealer))
	var tenant, site, admin, enquiries, lina uuid.UUID
	if err := rig.pool.QueryRow(ctx, `SELECT c.tenant_id, n.site_id,
			(SELECT id FROM users WHERE tenant_id = c.tenant_id AND role = 'admin' LIMIT 1),
			n.queue_id, (SELECT id FROM users WHERE email = 'lina@huadong.example')
		FROM phone_connectors c JOIN phone_numbers n ON n.connector_id = c.id WHERE c.id = $1`, rig.connector).Scan(
		&tenant, &site, &admin, &enquiries, &lina); err != nil {
		t.Fatal(err)
	}
	const secret = "pbx-observe-secret-0123"
	pc, _, err := orgs.CreatePhoneConnector(ctx, tenant, admin, org.PhoneConnectorSettings{Name: "Test PBX (observe)", Kind: "generic",
		Mode: "observe", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.SetPhoneNumber(ctx, tenant, admin, org.PhoneNumber{ConnectorID: pc.ID, Number: "+862160009001", SiteID: site,
		QueueID: enquiries, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	if err := orgs.SetAgentPhone(ctx, tenant, admin, org.AgentPhone{AgentID: lina, ConnectorID: pc.ID, Extension: "8001"}); err != nil {
		t.Fatal(err)
	}
	return pc.ID.String(), secret
}
