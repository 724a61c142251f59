package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestBrowserReportsPage: a scripted morning of one demo queue (synthetic
// contacts written as events on 2025-03-10, a day the demo has nothing on)
// reaches the report tables through the running server's builder; the
// supervisor's /reports page then shows a chart per report and a table
// whose figures equal the ones computed here by hand, and the CSV export
// carries the same.
func TestBrowserReportsPage(t *testing.T) {
	ctx0 := browser(t)
	a := startApp(t, nil)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, a.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var tenant, queue, agent uuid.UUID
	var zone string
	err = pool.QueryRow(ctx, `
		SELECT q.tenant_id, q.id, coalesce(s.zone, t.default_zone), (SELECT id FROM agents WHERE tenant_id = q.tenant_id ORDER BY id LIMIT 1)
		FROM queues q JOIN tenants t ON t.id = q.tenant_id LEFT JOIN sites s ON s.tenant_id = q.tenant_id AND s.id = q.site_id
		ORDER BY q.site_id IS NULL, q.name LIMIT 1`).Scan(&tenant, &queue, &zone, &agent)
	if err != nil {
		t.Fatalf("demo queue: %v", err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE queues SET sla_seconds = 20 WHERE tenant_id = $1 AND id = $2`, tenant, queue); err != nil {
		t.Fatal(err)
	}
	at := func(h, m, s int) time.Time { return time.Date(2025, 3, 10, h, m, s, 0, loc) }
	// 09:00 c1 answered in 10 s (within 20 s), talk 300 s, wrap-up 30 s;
	// 09:10 c2 answered in 40 s, talk 120 s; 10:00 c3 gives up after 50 s;
	// 10:30 c4 after 2 s (a short abandon, not counted against the queue).
	type step struct {
		contact int
		kind    string
		at      time.Time
		agent   bool
	}
	contacts := map[int]uuid.UUID{}
	for _, s := range []step{
		{1, "created", at(9, 0, 0), false}, {1, "assigned", at(9, 0, 10), true}, {1, "closed", at(9, 5, 10), true}, {1, "wrap_up_ended", at(9, 5, 40), true},
		{2, "created", at(9, 10, 0), false}, {2, "assigned", at(9, 10, 40), true}, {2, "closed", at(9, 12, 40), true}, {2, "wrap_up_ended", at(9, 12, 40), true},
		{3, "created", at(10, 0, 0), false}, {3, "abandoned", at(10, 0, 50), false},
		{4, "created", at(10, 30, 0), false}, {4, "abandoned", at(10, 30, 2), false},
	} {
		id, ok := contacts[s.contact]
		if !ok {
			id = uuid.New()
			contacts[s.contact] = id
			if _, err := pool.Exec(ctx, `INSERT INTO contacts (id, tenant_id, channel, queue_id, state, arrived_at) VALUES ($1, $2, 'chat', $3, 'closed', $4)`,
				id, tenant, queue, s.at); err != nil {
				t.Fatal(err)
			}
		}
		var who *uuid.UUID
		if s.agent {
			who = &agent
		}
		if _, err := pool.Exec(ctx, `INSERT INTO contact_events (tenant_id, contact_id, kind, queue_id, agent_id, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			tenant, id, s.kind, queue, who, s.at); err != nil {
			t.Fatal(err)
		}
	}

	// The builder folds every few seconds; wait for the API to have it all.
	sup, _ := a.login(t, "supervisor@huadong.example")
	query := fmt.Sprintf("from=2025-03-10&to=2025-03-10&interval=hour&by=queue&queue=%s", queue)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := sup.Get(a.url + "/api/reports?" + query)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Lines []struct {
				Offered   int `json:"offered"`
				Abandoned int `json:"abandoned"`
				Short     int `json:"short_abandons"`
			} `json:"lines"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/reports = %d, %v", resp.StatusCode, err)
		}
		if len(doc.Lines) == 2 && doc.Lines[0].Offered == 2 && doc.Lines[1].Offered == 2 && doc.Lines[1].Abandoned == 1 && doc.Lines[1].Short == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report did not reach the scripted figures in 90 s: %+v", doc)
		}
		time.Sleep(250 * time.Millisecond)
	}

	tab, cancel := context.WithTimeout(ctx0, 120*time.Second)
	defer cancel()
	err = chromedp.Do(tab,
		chromedp.Navigate(a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "supervisor@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`body.wallboard`)),
		chromedp.Navigate(a.url+"/reports?"+query),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=chart-svg]`)),
	)
	if err != nil {
		screenshot(t, tab, "reports-failed")
		t.Fatalf("reports page: %v", err)
	}
	raw, err := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify({
		drawn: document.body.dataset.chartsDrawn,
		offered: [...document.querySelectorAll('[data-testid=bar-offered]')].map(e => e.getAttribute('data-value')),
		answered: [...document.querySelectorAll('[data-testid=bar-answered]')].map(e => e.getAttribute('data-value')),
		sl: [...document.querySelectorAll('[data-testid=sl-point]')].map(e => e.getAttribute('data-value')),
		rows: [...document.querySelectorAll('.report-table tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim())),
		total: [...document.querySelectorAll('[data-testid=report-total] td')].map(td => td.textContent.trim()),
	})`))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	var page struct {
		Drawn                 string
		Offered, Answered, SL []string
		Rows                  [][]string
		Total                 []string
	}
	if err := json.Unmarshal([]byte(raw), &page); err != nil {
		t.Fatalf("page figures %s: %v", raw, err)
	}
	drawn, offeredBars, answeredBars, slPoints, rows, total := page.Drawn, page.Offered, page.Answered, page.SL, page.Rows, page.Total
	screenshot(t, tab, "reports")
	if drawn != "1" {
		t.Errorf("charts drawn = %q, want 1", drawn)
	}
	eq := func(what string, got, want []string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	eq("offered bars", offeredBars, []string{"2", "2"})
	eq("answered bars", answeredBars, []string{"2", "0"})
	eq("service-level points", slPoints, []string{"0.5", "0"})
	// Columns: start, offered, answered, abandoned, service level, ASA, AHT,
	// transfers, callbacks made, missed. 09:00: SL 1 of 2, ASA (10+40)/2 =
	// 25 s, AHT (330+120)/2 = 225 s; 10:00: one abandon counted, one short.
	if len(rows) != 2 {
		t.Fatalf("table rows = %q, want 2", rows)
	}
	eq("09:00 row", rows[0][1:], []string{"2", "2", "0", "50.0%", "0:25", "3:45", "0 / 0", "0", "0"})
	eq("10:00 row", rows[1][1:], []string{"2", "0", "1", "0.0%", "0:00", "0:00", "0 / 0", "0", "0"})
	eq("total", total, []string{"4", "2", "1", "33.3%", "0:25", "3:45", "0 / 0", "0", "0"})
	if rows[0][0] != at(9, 0, 0).Format(time.RFC3339) {
		t.Errorf("first row starts %q, want %q", rows[0][0], at(9, 0, 0).Format(time.RFC3339))
	}

	resp, err := sup.Get(a.url + "/api/reports?format=csv&" + query)
	if err != nil {
		t.Fatal(err)
	}
	csvBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("%s,", queue)
	if resp.StatusCode != http.StatusOK || len(csvBody) == 0 || !containsLine(string(csvBody), want, ",2,2,1,0,0,0,0.5000,0.0000,25,225,") {
		t.Errorf("CSV = %d\n%s", resp.StatusCode, csvBody)
	}
}

// containsLine reports whether some CSV line starts with prefix and holds part.
func containsLine(body, prefix, part string) bool {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, part) {
			return true
		}
	}
	return false
}
