package agentdesk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/agentdesk/web"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
)

// adminAuditLimit is how many audit entries the admin page lists; the full
// log is paged through GET /api/audit.
const adminAuditLimit = 20

// adminPageData is what admin.html gets. Durations are whole seconds, as
// the JSON API reads and writes them, so the forms post back what they show.
type adminPageData struct {
	web.PageData
	Strategies []string
	Queues     []adminQueue
	Agents     []adminAgent
	Audit      []adminAudit
}

type adminQueue struct {
	ID                  uuid.UUID
	Name                string
	Strategy            string
	SLASeconds          int
	WrapUpSeconds       int
	OfferTimeoutSeconds int
	MaxLength           int // 0: no limit, shown as an empty field
}

type adminAgent struct {
	ID                 uuid.UUID
	Name               string
	Voice, Chat, Email int
	Skills             string // "name=level" pairs, the form's text
}

type adminAudit struct {
	At         time.Time
	Action     string
	Actor      string // a known user's name, else the id
	TargetKind string
	Target     string // a queue's or agent's name where known, else the id
	Data       string // ids and setting values only (org.AuditEntry)
}

// skillsText writes skills as the edit form's text, sorted by name so the
// page is stable.
func skillsText(skills map[string]int) string {
	names := make([]string, 0, len(skills))
	for n := range skills {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, skills[n])
	}
	return strings.Join(parts, ", ")
}

// auditDataText flattens an entry's data for display, keys sorted; admin.js
// writes entries it fetches the same way.
func auditDataText(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, ok := d[k].(string)
		if !ok {
			b, _ := json.Marshal(d[k])
			v = string(b)
		}
		parts[i] = k + ": " + v
	}
	return strings.Join(parts, "; ")
}

// adminPage is GET /admin: each queue's and agent's routing settings with
// a form to edit them (admin.js posts them to PATCH /api/queues/{id} and
// /api/agents/{id}, so the page and the API validate alike), and the last
// audit entries.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	ctx, tenant := r.Context(), sess.User.TenantID
	qs, err := s.accounts.Queues(ctx, tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	as, err := s.accounts.Agents(ctx, tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	es, err := s.accounts.AuditLog(ctx, tenant, 0, adminAuditLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d := adminPageData{PageData: web.PageData{Title: "Admin", User: pageUser(sess), CSRF: sess.CSRF},
		Strategies: slices.Clone(routing.Strategies)}
	names := map[uuid.UUID]string{sess.User.ID: sess.User.DisplayName}
	for _, q := range qs {
		names[q.ID] = q.Name
		d.Queues = append(d.Queues, adminQueue{ID: q.ID, Name: q.Name, Strategy: q.Strategy,
			SLASeconds: secs(q.SLA), WrapUpSeconds: secs(q.WrapUp), OfferTimeoutSeconds: secs(q.OfferTimeout), MaxLength: q.MaxLength})
	}
	for _, a := range as {
		names[a.ID] = a.Name
		d.Agents = append(d.Agents, adminAgent{ID: a.ID, Name: a.Name, Voice: a.Capacity[org.Voice],
			Chat: a.Capacity[org.Chat], Email: a.Capacity[org.Email], Skills: skillsText(a.Skills)})
	}
	name := func(id uuid.UUID) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id.String()
	}
	for _, e := range es {
		d.Audit = append(d.Audit, adminAudit{At: e.At, Action: e.Action, Actor: name(e.ActorID),
			TargetKind: e.TargetKind, Target: name(e.TargetID), Data: auditDataText(e.Data)})
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "admin.html", d); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}
