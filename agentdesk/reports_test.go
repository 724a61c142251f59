package agentdesk

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/internal/redistest"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
	"github.com/switchboard-cc/switchboard/stats/report"
)

// reportAccounts answers sessions and the tenant's queues, agents and sites.
type reportAccounts struct {
	Accounts
	sessions map[string]org.Session
	queues   []org.Queue
	agents   []org.Agent
}

func (a reportAccounts) SessionByToken(_ context.Context, token string) (org.Session, error) {
	if s, ok := a.sessions[token]; ok {
		return s, nil
	}
	return org.Session{}, org.ErrNoSession
}

func (a reportAccounts) Queues(_ context.Context, tenant uuid.UUID) ([]org.Queue, error) {
	var out []org.Queue
	for _, q := range a.queues {
		if q.TenantID == tenant {
			out = append(out, q)
		}
	}
	return out, nil
}

func (a reportAccounts) Agents(context.Context, uuid.UUID) ([]org.Agent, error) { return a.agents, nil }
func (a reportAccounts) Sites(context.Context, uuid.UUID) ([]org.Site, error)   { return nil, nil }

// fakeReports returns its lines and remembers the query.
type fakeReports struct {
	lines  []report.Line
	tenant uuid.UUID
	query  report.Query
}

func (f *fakeReports) Report(_ context.Context, tenant uuid.UUID, q report.Query) ([]report.Line, error) {
	f.tenant, f.query = tenant, q
	return f.lines, nil
}

type reportHarness struct {
	t       *testing.T
	h       http.Handler
	tenant  uuid.UUID
	queue   uuid.UUID // the tenant's
	foreign uuid.UUID // another tenant's queue
	agent   uuid.UUID
	reports *fakeReports
}

const reportSupervisor, reportAgent, reportCSRF = "sup-token", "agent-token", "csrf"

func newReportHarness(t *testing.T, withReports bool) *reportHarness {
	rdb, prefix := redistest.New(t)
	h := &reportHarness{t: t, tenant: uuid.New(), queue: uuid.New(), foreign: uuid.New(), agent: uuid.New(), reports: &fakeReports{}}
	acc := reportAccounts{sessions: map[string]org.Session{
		reportSupervisor: {User: org.User{ID: uuid.New(), TenantID: h.tenant, Role: org.RoleSupervisor, Active: true, DisplayName: "Sup"}, CSRF: reportCSRF},
		reportAgent:      {User: org.User{ID: uuid.New(), TenantID: h.tenant, Role: org.RoleAgent, Active: true}, CSRF: reportCSRF},
	}, queues: []org.Queue{{ID: h.queue, TenantID: h.tenant, Name: `Service, "VIP"`}, {ID: h.foreign, TenantID: uuid.New(), Name: "Theirs"}},
		agents: []org.Agent{{ID: h.agent, Name: "=Li Na"}}}
	d := Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Chat: http.NotFoundHandler(), Limiter: ratelimit.New(rdb, prefix), Accounts: acc}
	if withReports {
		d.Reports = h.reports
	}
	s, err := NewServer(Config{PublicURL: "https://cc.example.cn"}, d)
	if err != nil {
		t.Fatal(err)
	}
	h.h = s.Handler(prometheus.NewRegistry())
	sh, _ := time.LoadLocation("Asia/Shanghai")
	h.reports.lines = []report.Line{
		{Start: time.Date(2026, 3, 10, 9, 0, 0, 0, sh), Zone: "Asia/Shanghai", Key: h.queue.String(), Figures: report.Figures{
			Counts: stats.Counts{Offered: 6, Answered: 3, AnsweredWithin: 2, Abandoned: 2, AbandonedWithin: 1, ShortAbandons: 1,
				WaitAnswered: 62 * time.Second, Handled: 3, TalkTime: 660 * time.Second, WrapUpTime: 90 * time.Second,
				HandleTime: 750 * time.Second, TransferredOut: 1}, CallbacksMade: 1, CallbacksMissed: 1}},
		{Start: time.Date(2026, 3, 10, 10, 0, 0, 0, sh), Zone: "Asia/Shanghai", Key: h.queue.String(), Figures: report.Figures{
			Counts: stats.Counts{Offered: 1, Abandoned: 1}}},
	}
	return h
}

func (h *reportHarness) get(token, path string) (int, http.Header, string) {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Origin", "https://cc.example.cn")
	req.Header.Set("X-CSRF-Token", reportCSRF)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.String()
}

// TestReportsCSV: the CSV has a header row, one record per line, RFC 4180
// quoting (a name with a comma and quotes survives a round trip), CRLF
// line ends, derived figures from the raw counts, and a formula-like name
// defused.
func TestReportsCSV(t *testing.T) {
	h := newReportHarness(t, true)
	code, hdr, body := h.get(reportSupervisor, "/api/reports?format=csv&from=2026-03-10&to=2026-03-10&interval=hour&by=queue")
	if code != http.StatusOK || hdr.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("CSV = %d %q: %s", code, hdr.Get("Content-Type"), body)
	}
	if !strings.Contains(hdr.Get("Content-Disposition"), `filename="report-queue-hour-2026-03-10-2026-03-10.csv"`) {
		t.Errorf("Content-Disposition = %q", hdr.Get("Content-Disposition"))
	}
	if !strings.Contains(body, `,"Service, ""VIP""",`) || !strings.Contains(body, "\r\n") {
		t.Errorf("CSV is not RFC 4180 quoted with CRLF:\n%q", body)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, body)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want a header and 2 lines: %q", len(recs), recs)
	}
	if got := strings.Join(recs[0], ","); got != "queue,name,zone,start,end,offered,answered,answered_within,abandoned,abandoned_within,short_abandons,service_level,abandon_rate,asa_seconds,aht_seconds,handled,wait_answered_seconds,talk_seconds,hold_seconds,wrap_up_seconds,transferred_in,transferred_out,callbacks_made,callbacks_missed" {
		t.Errorf("header = %s", got)
	}
	row := map[string]string{}
	for i, name := range recs[0] {
		row[name] = recs[1][i]
	}
	want := map[string]string{"queue": h.queue.String(), "name": `Service, "VIP"`, "zone": "Asia/Shanghai",
		"start": "2026-03-10T09:00:00+08:00", "end": "2026-03-10T10:00:00+08:00", "offered": "6", "answered": "3",
		"service_level": "0.4000", "abandon_rate": "0.4000", "asa_seconds": "20.666666666", "aht_seconds": "250",
		"short_abandons": "1", "transferred_out": "1", "callbacks_made": "1", "callbacks_missed": "1", "wrap_up_seconds": "90"}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("CSV %s = %q, want %q", k, row[k], v)
		}
	}
	if h.reports.tenant != h.tenant || h.reports.query.Interval != report.Hour || h.reports.query.By != report.ByQueue {
		t.Errorf("store asked %v %+v", h.reports.tenant, h.reports.query)
	}

	// By agent: names come from the tenant's agents; one that starts like
	// a formula is defused.
	h.reports.lines[0].Key = h.agent.String()
	_, _, body = h.get(reportSupervisor, "/api/reports?format=csv&from=2026-03-10&to=2026-03-10&by=agent")
	if !strings.Contains(body, ",'=Li Na,") {
		t.Errorf("agent name not defused: %q", body)
	}
}

// TestReportsJSONAndRefusals: the JSON's figures and names, and the
// refusals: an agent (403), another tenant's queue (404), malformed or
// out-of-range parameters (400), a server without reports (503).
func TestReportsJSONAndRefusals(t *testing.T) {
	h := newReportHarness(t, true)
	code, _, body := h.get(reportSupervisor, "/api/reports?from=2026-03-10&to=2026-03-10&interval=hour&queue="+h.queue.String())
	if code != http.StatusOK {
		t.Fatalf("JSON = %d %s", code, body)
	}
	var doc reportJSON
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Lines) != 2 || doc.Lines[0].Name != `Service, "VIP"` || *doc.Lines[0].ServiceLevel != 0.4 || doc.Lines[0].AHT != 250 ||
		doc.SLDefinition != string(stats.OfOffered) || doc.Lines[1].ServiceLevel == nil || *doc.Lines[1].ServiceLevel != 0 {
		t.Errorf("JSON = %s", body)
	}
	if len(h.reports.query.Queues) != 1 || h.reports.query.Queues[0] != h.queue {
		t.Errorf("queue filter = %v", h.reports.query.Queues)
	}
	for _, c := range []struct {
		token, query string
		want         int
	}{
		{reportAgent, "", http.StatusForbidden},
		{reportSupervisor, "queue=" + h.foreign.String(), http.StatusNotFound},
		{reportSupervisor, "queue=" + uuid.NewString(), http.StatusNotFound},
		{reportSupervisor, "queue=nope", http.StatusBadRequest},
		{reportSupervisor, "interval=week", http.StatusBadRequest},
		{reportSupervisor, "by=customer", http.StatusBadRequest},
		{reportSupervisor, "from=10/03/2026", http.StatusBadRequest},
		{reportSupervisor, "from=2026-03-11&to=2026-03-10", http.StatusBadRequest},
		{reportSupervisor, "from=2026-01-01&to=2026-03-10&interval=15m", http.StatusBadRequest},
		{reportSupervisor, "channel=fax", http.StatusBadRequest},
		{reportSupervisor, "format=xml", http.StatusBadRequest},
	} {
		if code, _, body := h.get(c.token, "/api/reports?"+c.query); code != c.want {
			t.Errorf("GET /api/reports?%s = %d %s, want %d", c.query, code, body, c.want)
		}
	}
	if code, _, _ := newReportHarness(t, false).get(reportSupervisor, "/api/reports"); code != http.StatusServiceUnavailable {
		t.Errorf("without reports = %d, want 503", code)
	}
}

// TestReportsPage: the page renders the form, a chart placeholder and a
// table per group with the figures, and the groups as JSON for the chart
// module; another tenant's queue is refused on the page too.
func TestReportsPage(t *testing.T) {
	h := newReportHarness(t, true)
	code, hdr, body := h.get(reportSupervisor, "/reports?from=2026-03-10&to=2026-03-10&interval=hour")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("page = %d %s", code, body)
	}
	for _, want := range []string{`data-testid="report-chart"`, `<td data-col="offered">6</td>`, `<td data-col="offered">7</td>`,
		`Service, &#34;VIP&#34;`, `data-value="0.4"`, `<script type="application/json" id="report-data">[{"Key":"` + h.queue.String()} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	i := strings.Index(body, `id="report-data">`)
	j := strings.Index(body[i:], "</script>")
	var groups []reportGroup
	if err := json.NewDecoder(bytes.NewReader([]byte(body[i+len(`id="report-data">`) : i+j]))).Decode(&groups); err != nil {
		t.Fatalf("report data: %v", err)
	}
	if len(groups) != 1 || len(groups[0].Lines) != 2 || groups[0].Total.Offered != 7 || groups[0].Total.Abandoned != 3 {
		t.Errorf("groups = %+v", groups)
	}
	if code, _, _ := h.get(reportSupervisor, "/reports?queue="+h.foreign.String()); code != http.StatusNotFound {
		t.Errorf("page with another tenant's queue = %d, want 404", code)
	}
}

// FuzzReportQuery: any query string gives a clear error or a query the
// store accepts, never a panic.
func FuzzReportQuery(f *testing.F) {
	for _, s := range []string{"", "from=2026-03-10&to=2026-03-10&interval=15m&by=agent", "queue=a,b,,c&channel=chat,voice",
		"from=2026-02-30", "interval=day&from=0001-01-01&to=9999-12-31", "from=2026-03-10&to=2025-03-10", "by=%00&interval=%ff",
		"queue=" + uuid.NewString() + "&queue=" + uuid.NewString()} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := reportQuery(v, now)
		if err != nil {
			var de *deskError
			if !errors.As(err, &de) || de.status != http.StatusBadRequest {
				t.Fatalf("reportQuery(%q) = %v, want a 400", raw, err)
			}
			return
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("reportQuery(%q) passed a query Validate refuses: %v", raw, err)
		}
	})
}
