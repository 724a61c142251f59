package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
)

// chromium finds Debian's Chromium. Outside CI a machine without it skips
// the browser tests; in CI (CI=true) its absence is a failure, because
// .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is not installed; .ci/run should have installed Debian's chromium")
	}
	t.Skip("Chromium not installed (apt-get install chromium); skipping the browser test")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func screenshot(t *testing.T, tab context.Context, name string) {
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("..", "..", "artifacts", "screenshots")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// TestBrowserAgentTakesAChat drives the real pages in headless Chromium: an
// agent logs in and goes Available; a visitor on the demo dealer page opens
// the widget and writes; the agent sees the offer with the recognised
// customer and queue, accepts and replies; the visitor's widget shows the
// reply; the agent wraps up and sees the chat in the customer's timeline.
func TestBrowserAgentTakesAChat(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)

	agent, cancelAgent := chromedp.NewContext(root)
	defer cancelAgent()
	var consoleMu sync.Mutex
	var consoleLog []string
	watch := func(tab context.Context, who string) {
		msgs := chromedp.Console(tab)
		go func() {
			for m, err := range msgs {
				if err != nil {
					return
				}
				consoleMu.Lock()
				consoleLog = append(consoleLog, who+": "+m.String())
				consoleMu.Unlock()
			}
		}()
	}
	watch(agent, "console")
	step := func(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 45*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			screenshot(t, tab, "failed")
			ectx, ecancel := context.WithTimeout(tab, 5*time.Second)
			body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
			ecancel()
			consoleMu.Lock()
			browserLog := strings.Join(consoleLog, "\n")
			consoleMu.Unlock()
			t.Fatalf("%s: %v\npage text:\n%s\nbrowser console:\n%s\nserver log tail:\n%s", what, err, body, browserLog, tail(a.logs.String(), 3000))
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}
	poll := func(ctx context.Context, what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	step(agent, "log in",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#presence`)),
	)
	step(agent, "go available",
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=conn]`)),
		poll(agent, "connected", `document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`),
		chromedp.SetValue(chromedp.CSS(`#presence`), "available"),
		poll(agent, "presence change", `document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`),
	)

	visitor, cancelVisitor := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancelVisitor()
	watch(visitor, "widget")
	step(visitor, "visitor opens the widget and writes",
		chromedp.Navigate(a.url+"/demo"),
		chromedp.WaitVisible(chromedp.CSS(`#sb-chat-launcher`)),
		chromedp.Click(chromedp.CSS(`#sb-chat-launcher`)),
		chromedp.WaitVisible(chromedp.CSS(`#sb-name`)),
		chromedp.SendKeys(chromedp.CSS(`#sb-name`), "Wang Wei"),
		chromedp.SendKeys(chromedp.CSS(`#sb-email`), "wang.wei@example.cn"),
		chromedp.Click(chromedp.CSS(`#sb-start`)),
		chromedp.WaitVisible(chromedp.CSS(`#sb-input`)),
		chromedp.SendKeys(chromedp.CSS(`#sb-input`), "Is my car ready?"),
		chromedp.Click(chromedp.CSS(`#sb-send`)),
	)

	step(agent, "the offer pops up", chromedp.WaitVisible(chromedp.CSS(`[data-testid=offer]`)))
	customer, queue := text(agent, `[data-testid=offer-customer-name]`), text(agent, `[data-testid=offer-queue]`)
	if strings.TrimSpace(customer) != "王伟 Wang Wei" {
		t.Errorf("offer shows customer %q, want 王伟 Wang Wei", customer)
	}
	if !strings.Contains(queue, "Enquiries") {
		t.Errorf("offer shows queue %q, want Enquiries", queue)
	}
	pop := text(agent, `[data-testid=offer]`)
	for _, want := range []string{"沪A12345", "SO-2026-0001"} {
		if !strings.Contains(pop, want) {
			t.Errorf("offer card lacks %q; it shows:\n%s", want, pop)
		}
	}
	screenshot(t, agent, "console-offer")

	const reply = "Yes, your Lavida is ready at 5 pm."
	step(agent, "accept and reply",
		chromedp.Click(chromedp.CSS(`button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`textarea[data-testid=chat-input]`)),
		poll(agent, "the visitor's line in the transcript", `[...document.querySelectorAll('[data-testid=transcript] .msg')].some(e => e.textContent.includes('Is my car ready?'))`),
		chromedp.SendKeys(chromedp.CSS(`textarea[data-testid=chat-input]`), reply),
		chromedp.Click(chromedp.CSS(`button[data-testid=send]`)),
	)
	step(agent, "the workspace shows the customer",
		poll(agent, "the customer's name beside the chat", `document.querySelector('[data-testid=customer-name]')?.textContent.trim() === '王伟 Wang Wei'`))

	step(visitor, "the visitor sees the reply",
		poll(visitor, "the reply in the widget", `[...document.querySelectorAll('#sb-transcript .sb-msg-agent')].some(e => e.textContent.includes(`+"`"+reply+"`"+`))`))
	got := text(visitor, `#sb-transcript .sb-msg-agent`)
	if !strings.Contains(got, reply) {
		t.Errorf("visitor's widget shows %q, want the agent's reply", got)
	}
	screenshot(t, visitor, "widget-reply")

	// Closing starts the wrap-up: a countdown, the note, Done, and the
	// customer's history; Done frees the slot and drops the card.
	step(agent, "close and see the wrap-up step",
		chromedp.Click(chromedp.CSS(`button[data-testid=close]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=timeline] .timeline-item`)),
		poll(agent, "the wrap-up countdown", `/^\d+ s left$/.test(document.querySelector('[data-testid=wrap-up-countdown]')?.textContent || '')`),
	)
	if timeline := text(agent, `[data-testid=timeline]`); !strings.Contains(timeline, "Is my car ready?") {
		t.Errorf("timeline lacks the conversation:\n%s", timeline)
	}
	var left int
	if _, err := fmt.Sscanf(text(agent, `[data-testid=wrap-up-countdown]`), "%d s left", &left); err != nil || left < 20 || left > 30 {
		t.Errorf("wrap-up countdown shows %d s (%v), want close to the queue's 30 s", left, err)
	}
	screenshot(t, agent, "console-wrap-up")
	step(agent, "write the note and press Done",
		chromedp.SendKeys(chromedp.CSS(`textarea[data-testid=wrap-up]`), "Car ready; collects at 5"),
		chromedp.Click(chromedp.CSS(`button[data-testid=done]`)),
		poll(agent, "the card gone", `document.querySelectorAll('[data-testid=contact-tab]').length === 0`),
	)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var note string
	var ended bool
	if err := pool.QueryRow(context.Background(), `
		SELECT c.wrap_up, a.ended_at IS NOT NULL FROM contacts c JOIN assignments a ON a.contact_id = c.id
		ORDER BY a.started_at DESC LIMIT 1`).Scan(&note, &ended); err != nil || note != "Car ready; collects at 5" || !ended {
		t.Errorf("after Done: note %q, assignment ended %v, %v; want the note saved and the assignment ended", note, ended, err)
	}

	// The supervisor's wallboard shows the same chat in today's figures.
	sup, cancelSup := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancelSup()
	watch(sup, "wallboard")
	step(sup, "the wallboard shows today's figures",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "supervisor@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=queue-row][data-queue=Enquiries]`)),
		poll(sup, "one answered chat in Enquiries", `document.querySelector('[data-testid=queue-row][data-queue=Enquiries] .answered')?.textContent === '1 / 1'`),
	)
	if sl := text(sup, `[data-testid=queue-row][data-queue=Enquiries] .sl`); strings.TrimSpace(sl) != "100%" {
		t.Errorf("wallboard service level for Enquiries = %q, want 100%% (one chat, answered within 20 s)", sl)
	}
	// Pushes are coalesced to one a second, so the release may come a push later.
	step(sup, "no agent busy once the chat is closed",
		poll(sup, "0 busy agents", `document.querySelector('[data-testid=agents-busy]').textContent === '0'`))
	screenshot(t, sup, "wallboard")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
