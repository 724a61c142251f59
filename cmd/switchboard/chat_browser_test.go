package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-cc/switchboard/internal/redistest"
)

// TestBrowserChatSurvivesOfflineAndReload: a visitor on the demo page
// fills the pre-chat form and chats with an agent in the console (another
// browser context); the visitor's typing shows in the console and ✓✓ on the
// agent's line. Then the connection is cut twice while both sides write:
// server side (the node's Redis subscription is killed, so the bus resyncs
// and the server closes the visitor socket with 1013, as it does after any
// Redis outage) and client side (Chromium's network emulation takes the
// visitor offline). Afterwards both DOMs show exactly the stored
// conversation, in seq order, each line once; a reload and a second tab of
// the same visitor resume it with the full history.
func TestBrowserChatSurvivesOfflineAndReload(t *testing.T) {
	root := browser(t)
	a := startApp(t, nil)
	pool, err := pgxpool.New(context.Background(), a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	fail := func(tab context.Context, what string, err error) {
		t.Helper()
		screenshot(t, tab, "chat-failed")
		ectx, cancel := context.WithTimeout(tab, 5*time.Second)
		body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
		frames, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`JSON.stringify(window.__frames || [])`))
		cancel()
		t.Fatalf("%s: %v\npage text:\n%s\nframes this page received: %s\nserver log tail:\n%s", what, err, body, frames, tail(a.logs.String(), 3000))
	}
	step := func(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 45*time.Second)
		defer cancel()
		// Headless tabs of other windows are throttled; work in the front one.
		if _, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{}); err != nil {
			fail(tab, what, err)
		}
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(tab, what, err)
		}
	}
	poll := func(what, expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return chromedp.Void{}, err
		}
	}
	eval := func(tab context.Context, expr string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			fail(tab, expr, err)
		}
		return v
	}
	offline := func(tab context.Context, off bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}}}); err != nil {
			t.Fatalf("network emulation: %v", err)
		}
		if _, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: off, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
			t.Fatalf("network state: %v", err)
		}
	}
	has := func(sel, text string) string {
		return fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, sel, text)
	}
	const (
		widgetLines  = `#sb-transcript .sb-msg[data-seq] .sb-body`
		consoleLines = `[data-testid=transcript] .msg:not(.pending) .body`
	)
	visitorSays := func(tab context.Context, what, line string) {
		t.Helper()
		step(tab, what, chromedp.SendKeys(chromedp.CSS(`#sb-input`), line), chromedp.Click(chromedp.CSS(`#sb-send`)))
	}
	agentSays := func(tab context.Context, what, line string) {
		t.Helper()
		step(tab, what, chromedp.SendKeys(chromedp.CSS(`textarea[data-testid=chat-input]`), line), chromedp.Click(chromedp.CSS(`button[data-testid=send]`)))
	}

	agent, cancelAgent := chromedp.NewContext(root)
	defer cancelAgent()
	// Open the tab on the tab's own context: a tab first opened under a
	// step's timeout would close with it.
	if err := chromedp.Do(agent); err != nil {
		t.Fatal(err)
	}
	// The console's frames (type and offer), for the failure message.
	if _, err := chromedp.Call(agent, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordFrames}); err != nil {
		t.Fatal(err)
	}
	step(agent, "agent logs in and goes available",
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

	visitor, cancelVisitor := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancelVisitor()
	if err := chromedp.Do(visitor); err != nil {
		t.Fatal(err)
	}
	step(visitor, "visitor opens the widget on the dealer page and fills the pre-chat form",
		chromedp.Navigate(a.url+"/demo"),
		chromedp.WaitVisible(chromedp.CSS(`#sb-chat-launcher`)),
		chromedp.Click(chromedp.CSS(`#sb-chat-launcher`)),
		chromedp.WaitVisible(chromedp.CSS(`#sb-name`)),
		poll("focus in the form", `document.activeElement === document.querySelector('#sb-name')`),
		chromedp.SendKeys(chromedp.CSS(`#sb-name`), "Wang Wei"),
		chromedp.SendKeys(chromedp.CSS(`#sb-email`), "wang.wei@example.cn"),
		chromedp.Click(chromedp.CSS(`#sb-start`)),
		chromedp.WaitVisible(chromedp.CSS(`#sb-input`)),
	)
	visitorSays(visitor, "visitor writes", "v1 Is my car ready?")
	step(agent, "agent accepts",
		// The card is redrawn when its screen-pop arrives (a new node):
		// poll the live DOM, then click the redrawn card's button.
		poll("the offer with its customer", `document.querySelector('[data-testid=offer] [data-testid=offer-customer-name]')?.textContent.includes('Wang Wei') === true`),
		chromedp.Click(chromedp.CSS(`[data-testid=offer] button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`textarea[data-testid=chat-input]`)),
		poll("the visitor's line", has(`[data-testid=transcript] .msg`, "v1 Is my car ready?")),
	)
	agentSays(agent, "agent replies", "a1 Let me check.")
	step(visitor, "visitor sees the reply with the agent's name, and types",
		poll("the reply", has(`#sb-transcript .sb-msg-agent`, "a1 Let me check.")),
		poll("the agent's name", `document.querySelector('#sb-status').textContent.includes('Li Na')`),
		chromedp.SendKeys(chromedp.CSS(`#sb-input`), "typing"),
	)
	step(agent, "the visitor's typing shows in the console",
		poll("typing notice", `document.querySelector('[data-testid=typing]') !== null`))
	step(agent, "the read receipt shows in the console",
		poll("✓✓ on the reply", `[...document.querySelectorAll('[data-testid=transcript] .msg-agent [data-testid=receipt]')].some(e => e.textContent === '✓✓')`),
	)
	step(visitor, "clear the draft", poll("an empty draft", `(document.querySelector('#sb-input').value = '') === ''`))

	// 1. The server closes the visitor's socket: the node loses its Redis
	// subscription, resubscribes, and closes its chat sockets (1013) so
	// that their widgets replay from PostgreSQL what pub/sub may have lost.
	if n := killBusSubscriptions(t); n == 0 {
		t.Fatal("found no Redis subscription of this process to kill")
	}
	visitorSays(visitor, "visitor writes while the server reconnects", "v2 written during the server's close")
	step(visitor, "the widget reconnects and gets v2 acked",
		poll("v2 acked", has(widgetLines, "v2 written")+` && !document.querySelector('#sb-transcript .sb-pending')`))
	step(agent, "console re-syncs and shows v2", poll("v2 in the console", has(consoleLines, "v2 written")))
	agentSays(agent, "agent writes after the server's close", "a2 written after the close")
	step(visitor, "a2 reaches the widget", poll("a2", has(widgetLines, "a2 written")))

	// 2. The visitor's network goes away; both sides write meanwhile.
	offline(visitor, true)
	step(visitor, "the widget notices it is offline",
		poll("offline status", `document.querySelector('#sb-status').textContent.includes('offline')`))
	visitorSays(visitor, "visitor writes offline", "v3 written offline")
	step(visitor, "v3 waits", poll("v3 pending", has(`#sb-transcript .sb-pending`, "v3 written offline")))
	agentSays(agent, "agent writes while the visitor is away", "a3 written while you were away")
	step(agent, "a3 stored", poll("a3 stored", has(consoleLines, "a3 written")))
	time.Sleep(time.Second)
	offline(visitor, false)
	step(visitor, "back online: the widget resumes and resends",
		poll("a3 in the widget", has(widgetLines, "a3 written")),
		poll("v3 acked", `!document.querySelector('#sb-transcript .sb-pending')`),
	)
	step(agent, "v3 reaches the console", poll("v3 in the console", has(consoleLines, "v3 written offline")))
	time.Sleep(time.Second) // a doubled line would have arrived by now

	// The stored conversation, in seq order, is what both sides must show.
	var want []string
	rows, err := pool.Query(context.Background(), `
		SELECT m.body FROM messages m JOIN contacts c ON c.id = m.contact_id
		WHERE c.channel = 'chat' AND m.author_kind <> 'system' ORDER BY m.seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var b string
		rows.Scan(&b)
		want = append(want, b)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for _, w := range []string{"v1 Is my car ready?", "a1 Let me check.", "v2 written during the server's close", "a2 written after the close",
		"v3 written offline", "a3 written while you were away"} {
		if n := strings.Count(strings.Join(want, "\n"), w); n != 1 {
			t.Errorf("the database holds %q %d times, want once; stored: %q", w, n, want)
		}
	}
	check := func(tab context.Context, who, sel string) {
		t.Helper()
		var got []string
		if err := json.Unmarshal([]byte(eval(tab, fmt.Sprintf(`JSON.stringify([...document.querySelectorAll(%q)].map(e => e.textContent))`, sel))), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s shows other lines than the stored conversation (-stored +shown):\n%s", who, diff)
		}
	}
	check(visitor, "the widget", widgetLines)
	check(agent, "the console", consoleLines)
	screenshot(t, visitor, "chat-widget")
	screenshot(t, agent, "console-chat")

	step(visitor, "a reload resumes the conversation",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#sb-chat-launcher`)),
		poll("the conversation back", fmt.Sprintf(`document.querySelectorAll(%q).length >= %d`, widgetLines, len(want))),
		poll("connected again", `document.querySelector('#sb-status').textContent.includes('Li Na')`),
	)
	check(visitor, "the widget after a reload", widgetLines)
	screenshot(t, visitor, "chat-after-reload")

	// A second tab of the same visitor (same browser context, so the same
	// localStorage) replays the whole chat and takes part in it.
	second, cancelSecond := chromedp.NewContext(visitor)
	defer cancelSecond()
	if err := chromedp.Do(second); err != nil {
		t.Fatal(err)
	}
	step(second, "a second tab shows the whole chat",
		chromedp.Navigate(a.url+"/demo"),
		chromedp.WaitVisible(chromedp.CSS(`#sb-chat-launcher`)),
		poll("the conversation", fmt.Sprintf(`document.querySelectorAll(%q).length >= %d`, widgetLines, len(want))),
	)
	check(second, "the second tab", widgetLines)
	agentSays(agent, "agent writes once more", "a4 seen in both tabs")
	step(second, "the second tab gets it", poll("a4", has(widgetLines, "a4 seen in both tabs")))
	step(visitor, "the first tab gets it", poll("a4", has(widgetLines, "a4 seen in both tabs")))
}

// recordFrames keeps, in window.__frames, the type (and offer id, reason)
// of every frame the page's websockets receive.
const recordFrames = `(() => {
  const W = window.WebSocket;
  window.__frames = [];
  function Recording(...args) {
    const ws = new W(...args);
    ws.addEventListener('message', (e) => {
      try {
        const f = JSON.parse(e.data);
        window.__frames.push([f.type, f.offer_id ? f.offer_id.slice(-8) : '', f.reason || f.code || '', f.screen_pop ? 'pop' : ''].join(' ').trim());
      } catch (_) {}
    });
    return ws;
  }
  Recording.prototype = W.prototype;
  Object.assign(Recording, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Recording;
})();`

// killBusSubscriptions kills, on the Redis server, the pub/sub connections
// of this test process (the in-process app's bus), found by their local
// ports, and returns how many it killed. Other processes' connections to
// the shared Redis are left alone.
func killBusSubscriptions(t *testing.T) int {
	t.Helper()
	ours := ownTCPPorts(t)
	opt, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		var id, addr string
		pubsub := false
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			switch {
			case k == "id":
				id = v
			case k == "addr":
				addr = v
			case (k == "sub" || k == "psub") && v != "0":
				pubsub = true
			}
		}
		i := strings.LastIndexByte(addr, ':')
		if !pubsub || i < 0 || !ours[addr[i+1:]] {
			continue
		}
		if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
			t.Fatalf("client kill %s: %v", id, err)
		}
		killed++
	}
	return killed
}

// ownTCPPorts are the local ports of this process's TCP sockets.
func ownTCPPorts(t *testing.T) map[string]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[string]bool{}
	for _, name := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			cols := strings.Fields(sc.Text())
			if len(cols) < 10 || !inodes[cols[9]] {
				continue
			}
			if _, hex, ok := strings.Cut(cols[1], ":"); ok {
				if p, err := strconv.ParseUint(hex, 16, 16); err == nil {
					ports[strconv.FormatUint(p, 10)] = true
				}
			}
		}
		f.Close()
	}
	if len(ports) == 0 {
		t.Skip("cannot read this process's sockets from /proc")
	}
	return ports
}
