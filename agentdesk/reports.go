package agentdesk

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/agentdesk/web"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/stats"
	"github.com/switchboard-cc/switchboard/stats/report"
)

// Reports reads the report tables (report.Store): sums of 15-minute rows
// the report builder folded from contact events with the wallboard's own
// stats functions.
type Reports interface {
	Report(ctx context.Context, tenant uuid.UUID, q report.Query) ([]report.Line, error)
}

var errNoReports = &deskError{http.StatusServiceUnavailable, "unavailable", "reports are not available on this server"}

// reportLine is one line of a report as the API and page give it: the raw
// counts (from which every service-level variant derives) and the figures
// the wallboard shows, computed by the same stats functions.
type reportLine struct {
	Key   string `json:"key"`
	Name  string `json:"name"`
	Zone  string `json:"zone"`
	Start string `json:"start"`
	End   string `json:"end"`

	Offered         int      `json:"offered"`
	Answered        int      `json:"answered"`
	AnsweredWithin  int      `json:"answered_within"`
	Abandoned       int      `json:"abandoned"`
	AbandonedWithin int      `json:"abandoned_within"`
	ShortAbandons   int      `json:"short_abandons"`
	ServiceLevel    *float64 `json:"service_level"` // answered within / (answered + abandoned), as the wallboard
	AbandonRate     *float64 `json:"abandon_rate"`
	ASA             float64  `json:"asa_seconds"`
	AHT             float64  `json:"aht_seconds"`
	Handled         int      `json:"handled"`
	WaitAnswered    float64  `json:"wait_answered_seconds"`
	Talk            float64  `json:"talk_seconds"`
	Hold            float64  `json:"hold_seconds"`
	WrapUp          float64  `json:"wrap_up_seconds"`
	TransferredIn   int      `json:"transferred_in"`
	TransferredOut  int      `json:"transferred_out"`
	CallbacksMade   int      `json:"callbacks_made"`
	CallbacksMissed int      `json:"callbacks_missed"`
}

type reportJSON struct {
	From         string       `json:"from"`
	To           string       `json:"to"`
	Interval     string       `json:"interval"`
	By           string       `json:"by"`
	SLDefinition string       `json:"sl_definition"`
	Lines        []reportLine `json:"lines"`
}

// reportQuery reads a report's parameters: from and to are dates
// (YYYY-MM-DD, to included; default today in UTC), interval 15m, hour
// (default) or day, by queue (default), channel, agent or site, and
// optional queue and channel filters (repeated, or comma-separated).
func reportQuery(v url.Values, now time.Time) (report.Query, error) {
	q := report.Query{Interval: v.Get("interval"), By: v.Get("by")}
	if q.Interval == "" {
		q.Interval = report.Hour
	}
	if q.By == "" {
		q.By = report.ByQueue
	}
	today := now.UTC().Format(time.DateOnly)
	for _, d := range []struct {
		name string
		to   *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		s := v.Get(d.name)
		if s == "" {
			s = today
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return q, &deskError{http.StatusBadRequest, "invalid", d.name + " must be a date, YYYY-MM-DD"}
		}
		*d.to = t
	}
	for _, s := range splitValues(v["queue"]) {
		id, err := uuid.Parse(s)
		if err != nil {
			return q, errBadID
		}
		q.Queues = append(q.Queues, id)
	}
	for _, s := range splitValues(v["channel"]) {
		q.Channels = append(q.Channels, org.Channel(s))
	}
	if err := q.Validate(); err != nil {
		return q, &deskError{http.StatusBadRequest, "invalid", err.Error()}
	}
	return q, nil
}

func splitValues(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, s := range bytes.Split([]byte(v), []byte(",")) {
			if s = bytes.TrimSpace(s); len(s) > 0 {
				out = append(out, string(s))
			}
		}
	}
	return out
}

// buildReport runs q for the caller's tenant and names its keys. A queue
// filter naming another tenant's (or no) queue is 404, like any other id.
func (s *Server) buildReport(ctx context.Context, tenant uuid.UUID, q report.Query) ([]reportLine, error) {
	if s.reports == nil {
		return nil, errNoReports
	}
	queues, err := s.accounts.Queues(ctx, tenant)
	if err != nil {
		return nil, err
	}
	names := map[string]string{uuid.Nil.String(): "No agent"}
	mine := map[uuid.UUID]bool{}
	for _, qu := range queues {
		mine[qu.ID] = true
		if q.By == report.ByQueue {
			names[qu.ID.String()] = qu.Name
		}
	}
	for _, id := range q.Queues {
		if !mine[id] {
			return nil, fmt.Errorf("report of queue %s: %w", id, org.ErrNotFound)
		}
	}
	switch q.By {
	case report.ByAgent:
		agents, err := s.accounts.Agents(ctx, tenant)
		if err != nil {
			return nil, err
		}
		for _, a := range agents {
			names[a.ID.String()] = a.Name
		}
	case report.BySite:
		sites, err := s.accounts.Sites(ctx, tenant)
		if err != nil {
			return nil, err
		}
		names[""] = "Group-wide"
		for _, st := range sites {
			names[st.ID.String()] = st.Name
		}
	}
	lines, err := s.reports.Report(ctx, tenant, q)
	if err != nil {
		if errors.Is(err, report.ErrInvalid) {
			return nil, &deskError{http.StatusBadRequest, "invalid", err.Error()}
		}
		return nil, err
	}
	out := make([]reportLine, len(lines))
	for i, l := range lines {
		name, ok := names[l.Key]
		if !ok {
			name = l.Key // a channel, or a record gone since
		}
		out[i] = toReportLine(l, name, q.Interval)
	}
	return out, nil
}

func toReportLine(l report.Line, name, interval string) reportLine {
	secs := func(d time.Duration) float64 { return d.Seconds() }
	out := reportLine{Key: l.Key, Name: name, Zone: l.Zone, Start: l.Start.Format(time.RFC3339), End: l.End(interval).Format(time.RFC3339),
		Offered: l.Offered, Answered: l.Answered, AnsweredWithin: l.AnsweredWithin, Abandoned: l.Abandoned,
		AbandonedWithin: l.AbandonedWithin, ShortAbandons: l.ShortAbandons, ASA: secs(l.ASA()), AHT: secs(l.AHT()),
		Handled: l.Handled, WaitAnswered: secs(l.WaitAnswered), Talk: secs(l.TalkTime), Hold: secs(l.HoldTime),
		WrapUp: secs(l.WrapUpTime), TransferredIn: l.TransferredIn, TransferredOut: l.TransferredOut,
		CallbacksMade: l.CallbacksMade, CallbacksMissed: l.CallbacksMissed}
	if sl, ok := l.ServiceLevel(wallboardSL); ok {
		out.ServiceLevel = &sl
	}
	if ar, ok := l.AbandonRate(); ok {
		out.AbandonRate = &ar
	}
	return out
}

// reportsAPI is GET /api/reports: JSON, or CSV with format=csv.
func (s *Server) reportsAPI(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "format must be json or csv"})
		return
	}
	q, err := reportQuery(r.URL.Query(), time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lines, err := s.buildReport(r.Context(), sess.User.TenantID, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if format == "csv" {
		var buf bytes.Buffer
		if err := writeReportCSV(&buf, q.By, lines); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="report-%s-%s-%s-%s.csv"`,
			q.By, q.Interval, q.From.Format(time.DateOnly), q.To.Format(time.DateOnly)))
		w.Header().Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
		return
	}
	writeJSON(w, http.StatusOK, reportJSON{From: q.From.Format(time.DateOnly), To: q.To.Format(time.DateOnly),
		Interval: q.Interval, By: q.By, SLDefinition: string(wallboardSL), Lines: lines})
}

// reportCSVHeader names the CSV columns; the first is the dimension.
var reportCSVHeader = []string{"id", "name", "zone", "start", "end", "offered", "answered", "answered_within",
	"abandoned", "abandoned_within", "short_abandons", "service_level", "abandon_rate", "asa_seconds", "aht_seconds",
	"handled", "wait_answered_seconds", "talk_seconds", "hold_seconds", "wrap_up_seconds",
	"transferred_in", "transferred_out", "callbacks_made", "callbacks_missed"}

// writeReportCSV writes lines as RFC 4180 CSV (encoding/csv quotes fields
// with commas, quotes or line breaks) with a header row. A name that
// starts like a formula is prefixed with ' so spreadsheets show it as text.
func writeReportCSV(buf *bytes.Buffer, by string, lines []reportLine) error {
	cw := csv.NewWriter(buf)
	cw.UseCRLF = true // RFC 4180
	header := append([]string{by}, reportCSVHeader[1:]...)
	if err := cw.Write(header); err != nil {
		return err
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	opt := func(f *float64) string {
		if f == nil {
			return ""
		}
		return strconv.FormatFloat(*f, 'f', 4, 64)
	}
	itoa := strconv.Itoa
	for _, l := range lines {
		rec := []string{l.Key, spreadsheetSafe(l.Name), l.Zone, l.Start, l.End, itoa(l.Offered), itoa(l.Answered),
			itoa(l.AnsweredWithin), itoa(l.Abandoned), itoa(l.AbandonedWithin), itoa(l.ShortAbandons),
			opt(l.ServiceLevel), opt(l.AbandonRate), num(l.ASA), num(l.AHT), itoa(l.Handled), num(l.WaitAnswered),
			num(l.Talk), num(l.Hold), num(l.WrapUp), itoa(l.TransferredIn), itoa(l.TransferredOut),
			itoa(l.CallbacksMade), itoa(l.CallbacksMissed)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func spreadsheetSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

// reportGroup is one chart and table of the page: one queue, channel,
// agent or site.
type reportGroup struct {
	Key, Name string
	Lines     []reportLine
	Total     reportLine
}

// reportsPageData is what reports.html gets.
type reportsPageData struct {
	web.PageData
	From, To, Interval, By string
	Queues                 []org.Queue
	Queue                  string
	Groups                 []reportGroup
	// Data is the groups as JSON for the chart module.
	Data    template.JS
	Problem string
}

// reportsPage is GET /reports: the form, and for its query a chart and a
// table per queue, channel, agent or site.
func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	ctx := r.Context()
	d := reportsPageData{PageData: web.PageData{Title: "Reports", User: pageUser(sess), CSRF: sess.CSRF}, Data: "[]"}
	queues, err := s.accounts.Queues(ctx, sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d.Queues = queues
	v := r.URL.Query()
	d.Queue = v.Get("queue")
	q, err := reportQuery(v, time.Now())
	status := http.StatusOK
	if err == nil {
		var lines []reportLine
		if lines, err = s.buildReport(ctx, sess.User.TenantID, q); err == nil {
			d.Groups = groupLines(lines)
			b, _ := json.Marshal(d.Groups)
			d.Data = template.JS(b) // encoding/json escapes <, > and & in strings
		}
	}
	if err != nil {
		status, _, d.Problem = classify(err)
		if status >= 500 {
			s.writeError(w, r, err)
			return
		}
	}
	d.From, d.To = q.From.Format(time.DateOnly), q.To.Format(time.DateOnly)
	if q.From.IsZero() {
		d.From, d.To = time.Now().UTC().Format(time.DateOnly), time.Now().UTC().Format(time.DateOnly)
	}
	d.Interval, d.By = q.Interval, q.By
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "reports.html", d); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// groupLines splits a report's lines (ordered by key, then time) into one
// group per key with its totals.
func groupLines(lines []reportLine) []reportGroup {
	var out []reportGroup
	for _, l := range lines {
		if len(out) == 0 || out[len(out)-1].Key != l.Key {
			out = append(out, reportGroup{Key: l.Key, Name: l.Name})
		}
		g := &out[len(out)-1]
		g.Lines = append(g.Lines, l)
	}
	for i := range out {
		out[i].Total = totalLine(out[i].Lines)
	}
	return out
}

// totalLine adds up a group's lines: raw counts, then the derived figures
// from them (never an average of averages).
func totalLine(lines []reportLine) reportLine {
	var sum report.Figures
	for _, l := range lines {
		sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
		sum = sum.Plus(report.Figures{Counts: stats.Counts{Offered: l.Offered, Answered: l.Answered,
			AnsweredWithin: l.AnsweredWithin, Abandoned: l.Abandoned, AbandonedWithin: l.AbandonedWithin,
			ShortAbandons: l.ShortAbandons, Handled: l.Handled, WaitAnswered: sec(l.WaitAnswered),
			TalkTime: sec(l.Talk), HoldTime: sec(l.Hold), WrapUpTime: sec(l.WrapUp),
			HandleTime: sec(l.Talk) + sec(l.Hold) + sec(l.WrapUp), TransferredIn: l.TransferredIn,
			TransferredOut: l.TransferredOut}, CallbacksMade: l.CallbacksMade, CallbacksMissed: l.CallbacksMissed})
	}
	if len(lines) == 0 {
		return reportLine{}
	}
	t := toReportLine(report.Line{Figures: sum}, lines[0].Name, report.Quarter)
	t.Key, t.Zone, t.Start, t.End = lines[0].Key, lines[0].Zone, lines[0].Start, lines[len(lines)-1].End
	return t
}
