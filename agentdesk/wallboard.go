package agentdesk

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/internal/wspump"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// wallboardSocket streams a tenant's gauges: the last published figures at
// once (kept in Redis, so any node can answer), then every coalesced update.
func (s *Server) wallboardSocket(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.sockets.Add(1)
	defer s.sockets.Done()
	s.metrics.sockets.WithLabelValues("wallboard").Inc()
	defer s.metrics.sockets.WithLabelValues("wallboard").Dec()

	ctx, cancel := context.WithCancel(s.life)
	defer cancel()
	tenant := sess.User.TenantID
	conn := wspump.New(ws, wspump.Options{SendBuffer: 32})
	box := make(mailbox, 64)
	unsubWall, err := s.bus.Subscribe(ctx, WallboardTopic(tenant), busHandler{box: box, conn: conn})
	if err == nil {
		var unsubUser func()
		unsubUser, err = s.bus.Subscribe(ctx, UserTopic(tenant, sess.User.ID), busHandler{box: box, contact: true, conn: conn})
		if err == nil {
			defer unsubUser()
		}
		defer unsubWall()
	}
	if err != nil {
		s.log.Warn("wallboard: subscribe", "err", err)
		conn.Close(websocket.CloseTryAgainLater, "try again")
		conn.Run(ctx, func([]byte) {})
		return
	}

	go func() {
		snapshot := func() {
			last, err := s.bus.Redis().Get(ctx, s.bus.Key("wallboard", tenant.String(), "last")).Bytes()
			if errors.Is(err, redis.Nil) {
				last = []byte(`{"at":null,"queues":[],"agents":{"available":0,"busy":0,"away":0,"offline":0},"agent_list":[]}`)
			} else if err != nil {
				s.log.Warn("wallboard: last gauges", "err", err)
				conn.Close(websocket.CloseTryAgainLater, "try again")
				return
			}
			conn.Send(append(append([]byte(`{"type":"snapshot","gauges":`), last...), '}'))
		}
		snapshot()
		recheck := time.NewTicker(s.cfg.SessionRecheck)
		defer recheck.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-conn.Done():
				return
			case <-recheck.C:
				if _, err := s.accounts.SessionByToken(ctx, sess.token); err != nil {
					conn.Close(closeSession, "session ended")
				}
			case m := <-box:
				switch {
				case m.resync:
					snapshot()
				case m.contact: // the user topic: only session checks matter here
					if _, err := s.accounts.SessionByToken(ctx, sess.token); err != nil {
						conn.Close(closeSession, "session ended")
					}
				default:
					s.metrics.frames.WithLabelValues("wallboard", "out").Inc()
					conn.Send(m.payload)
				}
			}
		}
	}()
	// The wallboard sends nothing; whatever it sends is ignored.
	conn.Run(ctx, func([]byte) {})
}

// WallboardData is what the wallboard reads and sets of org beyond
// routing's gauges: the supervisors' colour thresholds per queue, and the
// sites and teams its agents are filtered by (org.Store).
type WallboardData interface {
	QueueThresholds(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]org.QueueThresholds, error)
	SetQueueThresholds(ctx context.Context, tenant, queue, actor uuid.UUID, t org.QueueThresholds) (org.QueueThresholds, error)
	AgentSites(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]uuid.UUID, error)
	Teams(ctx context.Context, tenant uuid.UUID) ([]org.Team, error)
}

// WaitingContacts lists the contacts waiting in a tenant's queues and
// sends one to a named agent (crm.Store).
type WaitingContacts interface {
	Queued(ctx context.Context, tenant uuid.UUID) ([]crm.QueuedContact, error)
	MoveQueuedToAgent(ctx context.Context, tenant, contact, agent, by uuid.UUID) (crm.Contact, error)
}

// wallboardState holds the wallboard's optional stores and, on the node
// that publishes a tenant's gauges, its thresholds for a few seconds: the
// gauges go out every second and the agents needed depend on the goal.
type wallboardState struct {
	data    WallboardData   // nil: thresholds are the defaults, no filters
	waiting WaitingContacts // nil: no drill-down
	mu      sync.Mutex
	cached  map[uuid.UUID]cachedThresholds
}

type cachedThresholds struct {
	at time.Time
	m  map[uuid.UUID]org.QueueThresholds
}

// thresholdsTTL bounds how long a change made on another node takes to
// reach the agents needed (the pages recolour at once: the change is
// published to them).
const thresholdsTTL = 5 * time.Second

func newWallboardState(data WallboardData, waiting WaitingContacts) *wallboardState {
	return &wallboardState{data: data, waiting: waiting, cached: map[uuid.UUID]cachedThresholds{}}
}

// thresholds returns the tenant's thresholds set so far (defaults apply to
// the rest), cached; on a read error the last known ones, or none.
func (s *Server) thresholds(ctx context.Context, tenant uuid.UUID) map[uuid.UUID]org.QueueThresholds {
	w := s.wall
	if w == nil || w.data == nil {
		return nil
	}
	w.mu.Lock()
	c, ok := w.cached[tenant]
	w.mu.Unlock()
	if ok && time.Since(c.at) < thresholdsTTL {
		return c.m
	}
	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	m, err := w.data.QueueThresholds(qctx, tenant)
	cancel()
	if err != nil {
		s.log.Warn("wallboard: queue thresholds", "tenant_id", tenant, "err", err)
		return c.m
	}
	w.mu.Lock()
	w.cached[tenant] = cachedThresholds{at: time.Now(), m: m}
	w.mu.Unlock()
	return m
}

func (s *Server) forgetThresholds(tenant uuid.UUID) {
	if s.wall == nil {
		return
	}
	s.wall.mu.Lock()
	delete(s.wall.cached, tenant)
	s.wall.mu.Unlock()
}

// thresholdsJSON is a queue's colour thresholds on the wire.
type thresholdsJSON struct {
	SLGoal           float64 `json:"sl_goal"`
	SLRed            float64 `json:"sl_red"`
	WaitAmberSeconds int     `json:"wait_amber_seconds"`
	WaitRedSeconds   int     `json:"wait_red_seconds"`
}

func toThresholdsJSON(t org.QueueThresholds) thresholdsJSON {
	return thresholdsJSON{SLGoal: t.SLGoal, SLRed: t.SLRed,
		WaitAmberSeconds: int(t.WaitAmber / time.Second), WaitRedSeconds: int(t.WaitRed / time.Second)}
}

func queueThresholds(m map[uuid.UUID]org.QueueThresholds, queue uuid.UUID) org.QueueThresholds {
	if t, ok := m[queue]; ok {
		return t
	}
	return org.DefaultQueueThresholds
}

// History: one sample per minute per tenant, the last value of the minute
// (each push overwrites its minute), in a Redis hash of 60 slots (minute
// mod 60), so it is bounded by construction and any node can read it. The
// page draws its sparklines from it on load, then from the pushes.

const historyMinutes = 60

type minuteSample struct {
	At     int64                     `json:"at"` // Unix seconds of the minute's start
	Queues map[string]queueSampleRaw `json:"q"`
}

// queueSampleRaw is [waiting, service level or null].
type queueSampleRaw [2]*float64

func historyKey(s *Server, tenant uuid.UUID) string {
	return s.bus.Key("wallboard", tenant.String(), "minutes")
}

func sampleOf(g gaugesJSON) (slot string, b []byte, err error) {
	minute := g.At.Truncate(time.Minute)
	sm := minuteSample{At: minute.Unix(), Queues: make(map[string]queueSampleRaw, len(g.Queues))}
	for _, q := range g.Queues {
		w := float64(q.Waiting)
		sm.Queues[q.ID.String()] = queueSampleRaw{&w, q.Today.ServiceLevel}
	}
	b, err = json.Marshal(sm)
	return strconv.FormatInt((minute.Unix()/60)%historyMinutes, 10), b, err
}

// history reads the tenant's samples of the last hour, oldest first.
func (s *Server) history(ctx context.Context, tenant uuid.UUID, now time.Time) ([]minuteSample, error) {
	all, err := s.bus.Redis().HGetAll(ctx, historyKey(s, tenant)).Result()
	if err != nil {
		return nil, fmt.Errorf("wallboard history: %w", err)
	}
	out := make([]minuteSample, 0, len(all))
	from := now.Add(-historyMinutes * time.Minute).Unix()
	for _, v := range all {
		var sm minuteSample
		if json.Unmarshal([]byte(v), &sm) != nil || sm.At <= from {
			continue // a slot from more than an hour ago, or damaged
		}
		out = append(out, sm)
	}
	slices.SortFunc(out, func(a, b minuteSample) int { return cmp.Compare(a.At, b.At) })
	return out, nil
}

// wallboardContext gives a page what the pushes do not carry: sites, teams
// and agents' sites for the filters, each queue's thresholds, and the last
// hour's samples for the sparklines.
func (s *Server) wallboardContext(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	ctx, tenant := r.Context(), sess.User.TenantID
	type site struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	}
	out := struct {
		Sites      []site                       `json:"sites"`
		Teams      []org.Team                   `json:"teams"`
		AgentSites map[uuid.UUID]uuid.UUID      `json:"agent_sites"`
		Thresholds map[uuid.UUID]thresholdsJSON `json:"thresholds"`
		Default    thresholdsJSON               `json:"default_thresholds"`
		History    []minuteSample               `json:"history"`
	}{Sites: []site{}, Teams: []org.Team{}, AgentSites: map[uuid.UUID]uuid.UUID{},
		Thresholds: map[uuid.UUID]thresholdsJSON{}, Default: toThresholdsJSON(org.DefaultQueueThresholds)}
	sites, err := s.accounts.Sites(ctx, tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, st := range sites {
		out.Sites = append(out.Sites, site{st.ID, st.Name})
	}
	if s.wall != nil && s.wall.data != nil {
		if out.Teams, err = s.wall.data.Teams(ctx, tenant); err != nil {
			s.writeError(w, r, err)
			return
		}
		if out.AgentSites, err = s.wall.data.AgentSites(ctx, tenant); err != nil {
			s.writeError(w, r, err)
			return
		}
		th, err := s.wall.data.QueueThresholds(ctx, tenant)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for q, t := range th {
			out.Thresholds[q] = toThresholdsJSON(t)
		}
	}
	if out.History, err = s.history(ctx, tenant, time.Now()); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

var errNoWallboardData = &deskError{http.StatusServiceUnavailable, "unavailable", "wallboard settings are not available on this server"}

// setQueueThresholds sets where a queue's figures change colour; org
// audits it. Every open wallboard of the tenant recolours at once.
func (s *Server) setQueueThresholds(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	queue, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.wall == nil || s.wall.data == nil {
		s.writeError(w, r, errNoWallboardData)
		return
	}
	var body struct {
		SLGoal           *float64 `json:"sl_goal"`
		SLRed            *float64 `json:"sl_red"`
		WaitAmberSeconds *int     `json:"wait_amber_seconds"`
		WaitRedSeconds   *int     `json:"wait_red_seconds"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.SLGoal == nil || body.SLRed == nil || body.WaitAmberSeconds == nil || body.WaitRedSeconds == nil {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "sl_goal, sl_red, wait_amber_seconds and wait_red_seconds are all required"})
		return
	}
	if *body.WaitAmberSeconds < 0 || *body.WaitRedSeconds < 0 || *body.WaitAmberSeconds > 86400 || *body.WaitRedSeconds > 86400 {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "wait thresholds are whole seconds from 1 to 86400"})
		return
	}
	tenant := sess.User.TenantID
	t, err := s.wall.data.SetQueueThresholds(r.Context(), tenant, queue, sess.User.ID, org.QueueThresholds{
		SLGoal: *body.SLGoal, SLRed: *body.SLRed,
		WaitAmber: time.Duration(*body.WaitAmberSeconds) * time.Second, WaitRed: time.Duration(*body.WaitRedSeconds) * time.Second})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.forgetThresholds(tenant)
	tj := toThresholdsJSON(t)
	if b, err := json.Marshal(frame{"type": "thresholds", "queue_id": queue, "thresholds": tj}); err == nil {
		if err := s.bus.Publish(r.Context(), WallboardTopic(tenant), b); err != nil {
			s.log.WarnContext(r.Context(), "wallboard: publish thresholds", "queue_id", queue, "err", err)
		}
	}
	s.log.InfoContext(r.Context(), "queue thresholds set", "by", sess.User.ID, "queue_id", queue)
	writeJSON(w, http.StatusOK, map[string]any{"queue_id": queue, "thresholds": tj})
}

// waitingJSON is one waiting contact in the drill-down: ids, channel and
// wait only, never who the customer is, so any supervisor may see it.
type waitingJSON struct {
	ID          uuid.UUID   `json:"id"`
	Channel     org.Channel `json:"channel"`
	ArrivedAt   time.Time   `json:"arrived_at"`
	WaitSeconds int         `json:"wait_seconds"`
	Priority    int         `json:"priority"`
	Preferred   []uuid.UUID `json:"preferred_agents"` // tried first, until the preference runs out
}

// maxWaitingListed bounds the drill-down: the oldest contacts are the ones
// a supervisor moves.
const maxWaitingListed = 200

// queueWaiting lists a queue's waiting contacts, oldest first.
func (s *Server) queueWaiting(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	queue, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.wall == nil || s.wall.waiting == nil {
		s.writeError(w, r, errNoWallboardData)
		return
	}
	tenant := sess.User.TenantID
	qs, err := s.accounts.Queues(r.Context(), tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !slices.ContainsFunc(qs, func(q org.Queue) bool { return q.ID == queue }) {
		s.writeError(w, r, fmt.Errorf("queue %s: %w", queue, org.ErrNotFound))
		return
	}
	all, err := s.wall.waiting.Queued(r.Context(), tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := time.Now()
	out := []waitingJSON{}
	total := 0
	for _, c := range all {
		if c.QueueID != queue {
			continue
		}
		total++
		if len(out) == maxWaitingListed {
			continue
		}
		wj := waitingJSON{ID: c.ContactID, Channel: c.Channel, ArrivedAt: c.ArrivedAt.UTC(),
			WaitSeconds: int(max(now.Sub(c.ArrivedAt), 0) / time.Second), Priority: c.Priority, Preferred: []uuid.UUID{}}
		if now.Before(c.Preference.Until) {
			wj.Preferred = append(wj.Preferred, c.Preference.Agents...)
		}
		out = append(out, wj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue_id": queue, "total": total, "contacts": out})
}

// moveContactToAgent has a waiting contact offered to a named agent first
// (then its queue's pool, after the queue's preference window).
func (s *Server) moveContactToAgent(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.wall == nil || s.wall.waiting == nil {
		s.writeError(w, r, errNoWallboardData)
		return
	}
	var body struct {
		AgentID uuid.UUID `json:"agent_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.AgentID == uuid.Nil {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "agent_id is required"})
		return
	}
	tenant := sess.User.TenantID
	c, err := s.wall.waiting.MoveQueuedToAgent(r.Context(), tenant, contact, body.AgentID, sess.User.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Routing drops its copy (and any open offer) and reads it anew, with
	// the agent preferred.
	if err := s.command(r.Context(), tenant, dispatch.Command{Kind: dispatch.CmdCancel, ContactID: contact, Requeue: true}); err != nil {
		s.log.WarnContext(r.Context(), "move contact to agent: tell routing", "contact_id", contact, "err", err)
	}
	s.log.InfoContext(r.Context(), "contact sent to agent", "by", sess.User.ID, "contact_id", contact, "agent_id", body.AgentID)
	writeJSON(w, http.StatusOK, map[string]any{"contact_id": c.ID, "queue_id": c.QueueID, "agent_id": body.AgentID, "state": c.State})
}
