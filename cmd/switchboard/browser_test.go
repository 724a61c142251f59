package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 80)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("..", "..", "artifacts", "screenshots")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name+".jpg"), png, 0o644)
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
	step := func(ctx context.Context, what string, actions ...chromedp.Action) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Run(ctx, actions...); err != nil {
			screenshot(t, agent, "failed-agent")
			t.Fatalf("%s: %v", what, err)
		}
	}
	step(agent, "log in",
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(`input[name=email]`),
		chromedp.SendKeys(`input[name=email]`, "lina@huadong.example"),
		chromedp.SendKeys(`input[name=password]`, "switchboard-demo"),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`#presence`),
	)
	step(agent, "go available",
		chromedp.WaitVisible(`[data-testid=conn]`),
		chromedp.Poll(`document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.SetValue(`#presence`, "available"),
		chromedp.Evaluate(`document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
	)

	visitor, cancelVisitor := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancelVisitor()
	step(visitor, "visitor opens the widget and writes",
		chromedp.Navigate(a.url+"/demo"),
		chromedp.WaitVisible(`#sb-chat-launcher`),
		chromedp.Click(`#sb-chat-launcher`),
		chromedp.WaitVisible(`#sb-name`),
		chromedp.SendKeys(`#sb-name`, "Wang Wei"),
		chromedp.SendKeys(`#sb-email`, "wang.wei@example.cn"),
		chromedp.Click(`#sb-start`),
		chromedp.WaitVisible(`#sb-input`),
		chromedp.SendKeys(`#sb-input`, "Is my car ready?"),
		chromedp.Click(`#sb-send`),
	)

	var customer, queue string
	step(agent, "the offer pops with the customer",
		chromedp.WaitVisible(`[data-testid=offer]`),
		chromedp.Text(`[data-testid=offer-customer-name]`, &customer),
		chromedp.Text(`[data-testid=offer-queue]`, &queue),
	)
	if strings.TrimSpace(customer) != "王伟 Wang Wei" {
		t.Errorf("offer shows customer %q, want 王伟 Wang Wei", customer)
	}
	if !strings.Contains(queue, "Enquiries") {
		t.Errorf("offer shows queue %q, want Enquiries", queue)
	}
	var pop string
	step(agent, "read the offer card", chromedp.Text(`[data-testid=offer]`, &pop))
	for _, want := range []string{"沪A12345", "SO-2026-0001"} {
		if !strings.Contains(pop, want) {
			t.Errorf("offer card lacks %q; it shows:\n%s", want, pop)
		}
	}
	screenshot(t, agent, "console-offer")

	const reply = "Yes, your Lavida is ready at 5 pm."
	step(agent, "accept and reply",
		chromedp.Click(`button[data-action=accept]`),
		chromedp.WaitVisible(`textarea[data-testid=chat-input]`),
		chromedp.Poll(`[...document.querySelectorAll('[data-testid=transcript] .msg')].some(e => e.textContent.includes('Is my car ready?'))`, nil),
		chromedp.SendKeys(`textarea[data-testid=chat-input]`, reply),
		chromedp.Click(`button[data-testid=send]`),
	)
	var name string
	step(agent, "workspace shows the customer", chromedp.Text(`[data-testid=customer-name]`, &name))
	if strings.TrimSpace(name) != "王伟 Wang Wei" {
		t.Errorf("workspace shows customer %q, want 王伟 Wang Wei", name)
	}

	var got string
	step(visitor, "the visitor sees the reply",
		chromedp.Poll(`[...document.querySelectorAll('#sb-transcript .sb-msg-agent')].some(e => e.textContent.includes(`+"`"+reply+"`"+`))`, nil),
		chromedp.Text(`#sb-transcript .sb-msg-agent`, &got),
	)
	if !strings.Contains(got, reply) {
		t.Errorf("visitor's widget shows %q, want the agent's reply", got)
	}
	screenshot(t, visitor, "widget-reply")

	var timeline string
	step(agent, "wrap up and see the timeline",
		chromedp.SendKeys(`textarea[data-testid=wrap-up]`, "Car ready; collects at 5"),
		chromedp.Click(`button[data-testid=close]`),
		chromedp.WaitVisible(`[data-testid=timeline] .timeline-item`),
		chromedp.Text(`[data-testid=timeline]`, &timeline),
	)
	if !strings.Contains(timeline, "Car ready; collects at 5") || !strings.Contains(timeline, "Is my car ready?") {
		t.Errorf("timeline lacks the wrap-up or the conversation:\n%s", timeline)
	}
	screenshot(t, agent, "console-timeline")
}
