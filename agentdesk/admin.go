package agentdesk

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// queueJSON is a queue as the admin API reads and writes it: durations in
// whole seconds, zero for "none" (no limit, never widen, routing's default
// window); calendar in org.Calendar's hand-written shape, null when the
// queue is always open; overflow_queue_id null when there is none.
type queueJSON struct {
	ID                  uuid.UUID        `json:"id"`
	Name                string           `json:"name"`
	SiteID              *uuid.UUID       `json:"site_id"`
	Strategy            string           `json:"strategy"`
	Priority            int              `json:"priority"`
	Skills              map[string]int   `json:"skills"`
	SLASeconds          int              `json:"sla_seconds"`
	OfferTimeoutSeconds int              `json:"offer_timeout_seconds"`
	WrapUpSeconds       int              `json:"wrap_up_seconds"`
	Calendar            *org.Calendar    `json:"calendar"`
	ClosedAction        org.ClosedAction `json:"closed_action"`
	ClosedMessage       string           `json:"closed_message"`
	MaxWaitSeconds      int              `json:"max_wait_seconds"`
	OverflowQueueID     *uuid.UUID       `json:"overflow_queue_id"`
	WidenAfterSeconds   int              `json:"widen_after_seconds"`
	WidenedSkills       map[string]int   `json:"widened_skills"`
	MaxLength           int              `json:"max_length"`
	AgeingStepSeconds   int              `json:"ageing_step_seconds"`
	AgeingMax           int              `json:"ageing_max"`
	PreferWindowSeconds int              `json:"prefer_window_seconds"`
	AutoCallback        bool             `json:"auto_callback"`
	Dispositions        []string         `json:"dispositions"` // [] when the queue has none
}

func secs(d time.Duration) int { return int(d / time.Second) }

func nullID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

func toQueueJSON(q org.Queue) queueJSON {
	return queueJSON{ID: q.ID, Name: q.Name, SiteID: nullID(q.SiteID), Strategy: q.Strategy, Priority: q.Priority, Skills: q.Skills,
		SLASeconds: secs(q.SLA), OfferTimeoutSeconds: secs(q.OfferTimeout), WrapUpSeconds: secs(q.WrapUp),
		Calendar: q.Calendar, ClosedAction: q.ClosedAction, ClosedMessage: q.ClosedMessage,
		MaxWaitSeconds: secs(q.MaxWait), OverflowQueueID: nullID(q.OverflowQueueID),
		WidenAfterSeconds: secs(q.WidenAfter), WidenedSkills: q.WidenedSkills, MaxLength: q.MaxLength,
		AgeingStepSeconds: secs(q.AgeingStep), AgeingMax: q.AgeingMax, PreferWindowSeconds: secs(q.PreferWindow),
		AutoCallback: q.AutoCallback, Dispositions: nonNil(q.Dispositions)}
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	qs, err := s.accounts.Queues(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]queueJSON, len(qs))
	for i, q := range qs {
		out[i] = toQueueJSON(q)
	}
	writeJSON(w, http.StatusOK, out)
}

// nullable is a PATCH field that tells "absent" (Set false: unchanged)
// from null (Null: clear the setting) and from a value.
type nullable[T any] struct {
	Set, Null bool
	V         T
}

func (n *nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Null = true
		return nil
	}
	return json.Unmarshal(b, &n.V)
}

// nullSeconds maps a PATCH field of whole seconds to a duration; null is
// 0, "none".
func nullSeconds(n nullable[int]) *time.Duration {
	if !n.Set {
		return nil
	}
	d := time.Duration(n.V) * time.Second
	return &d
}

// updateQueue edits a queue's routing settings; fields left out stay, and
// null clears a setting that may be unset (calendar, overflow queue,
// widened skills, the limits). Routing re-reads the queues at once, so the
// change applies to the next decision.
func (s *Server) updateQueue(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		Strategy            *string                  `json:"strategy"`
		Priority            *int                     `json:"priority"`
		Skills              map[string]int           `json:"skills"`
		SLASeconds          *int                     `json:"sla_seconds"`
		OfferTimeoutSeconds *int                     `json:"offer_timeout_seconds"`
		WrapUpSeconds       *int                     `json:"wrap_up_seconds"`
		Calendar            nullable[org.Calendar]   `json:"calendar"`
		ClosedAction        *org.ClosedAction        `json:"closed_action"`
		ClosedMessage       *string                  `json:"closed_message"`
		MaxWaitSeconds      nullable[int]            `json:"max_wait_seconds"`
		OverflowQueueID     nullable[uuid.UUID]      `json:"overflow_queue_id"`
		WidenAfterSeconds   nullable[int]            `json:"widen_after_seconds"`
		WidenedSkills       nullable[map[string]int] `json:"widened_skills"`
		MaxLength           nullable[int]            `json:"max_length"`
		AgeingStepSeconds   nullable[int]            `json:"ageing_step_seconds"`
		AgeingMax           *int                     `json:"ageing_max"`
		PreferWindowSeconds nullable[int]            `json:"prefer_window_seconds"`
		AutoCallback        *bool                    `json:"auto_callback"`
		Dispositions        nullable[[]string]       `json:"dispositions"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	dur := func(n *int) *time.Duration {
		if n == nil {
			return nil
		}
		d := time.Duration(*n) * time.Second
		return &d
	}
	set := org.QueueSettings{Strategy: body.Strategy, Priority: body.Priority, Skills: body.Skills,
		SLA: dur(body.SLASeconds), OfferTimeout: dur(body.OfferTimeoutSeconds), WrapUp: dur(body.WrapUpSeconds),
		ClosedAction: body.ClosedAction, ClosedMessage: body.ClosedMessage,
		MaxWait: nullSeconds(body.MaxWaitSeconds), WidenAfter: nullSeconds(body.WidenAfterSeconds),
		AgeingStep: nullSeconds(body.AgeingStepSeconds), AgeingMax: body.AgeingMax,
		PreferWindow: nullSeconds(body.PreferWindowSeconds), AutoCallback: body.AutoCallback}
	if body.Calendar.Set {
		set.Calendar = &body.Calendar.V // null: the zero calendar, always open
	}
	if body.OverflowQueueID.Set {
		set.OverflowQueueID = &body.OverflowQueueID.V // null: uuid.Nil, no overflow
	}
	if body.WidenedSkills.Set {
		set.WidenedSkills = body.WidenedSkills.V
		if set.WidenedSkills == nil {
			set.WidenedSkills = map[string]int{} // null: no widening skills
		}
	}
	if body.Dispositions.Set {
		set.Dispositions = body.Dispositions.V
		if set.Dispositions == nil {
			set.Dispositions = []string{} // null: no codes
		}
	}
	if body.MaxLength.Set {
		n := body.MaxLength.V
		set.MaxLength = &n
	}
	q, err := s.accounts.UpdateQueue(r.Context(), sess.User.TenantID, id, sess.User.ID, set, routing.Strategies)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.command(r.Context(), sess.User.TenantID, dispatch.Command{Kind: dispatch.CmdRefresh}); err != nil {
		s.log.WarnContext(r.Context(), "queue updated; routing picks it up at its next sweep", "queue_id", id, "err", err)
	}
	s.log.InfoContext(r.Context(), "queue updated", "by", sess.User.ID, "queue_id", id)
	writeJSON(w, http.StatusOK, toQueueJSON(q))
}

type agentJSON struct {
	ID              uuid.UUID           `json:"id"`
	Name            string              `json:"name"`
	Skills          map[string]int      `json:"skills"`
	Capacity        map[org.Channel]int `json:"capacity"`
	VoiceBlocksChat bool                `json:"voice_blocks_chat"`
	State           org.Presence        `json:"state"`
	Reason          string              `json:"reason"`
	Since           time.Time           `json:"since"`
}

func toAgentJSON(a org.Agent) agentJSON {
	return agentJSON{ID: a.ID, Name: a.Name, Skills: a.Skills, Capacity: a.Capacity, VoiceBlocksChat: a.VoiceBlocksChat,
		State: a.Presence, Reason: a.Reason, Since: a.Since}
}

// listAgents gives supervisors the agents' settings and chosen presence.
func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	as, err := s.accounts.Agents(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]agentJSON, len(as))
	for i, a := range as {
		out[i] = toAgentJSON(a)
	}
	writeJSON(w, http.StatusOK, out)
}

// updateAgent edits an agent's skills (the whole set), capacity (the
// channels given) and voice-blocks-chat; routing re-reads the agents at once.
func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		Skills          map[string]int      `json:"skills"`
		Capacity        map[org.Channel]int `json:"capacity"`
		VoiceBlocksChat *bool               `json:"voice_blocks_chat"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.accounts.UpdateAgent(r.Context(), sess.User.TenantID, id, sess.User.ID,
		org.AgentSettings{Skills: body.Skills, Capacity: body.Capacity, VoiceBlocksChat: body.VoiceBlocksChat})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.command(r.Context(), sess.User.TenantID, dispatch.Command{Kind: dispatch.CmdRefresh}); err != nil {
		s.log.WarnContext(r.Context(), "agent updated; routing picks it up at its next sweep", "agent_id", id, "err", err)
	}
	s.log.InfoContext(r.Context(), "agent updated", "by", sess.User.ID, "agent_id", id)
	writeJSON(w, http.StatusOK, toAgentJSON(a))
}

type auditJSON struct {
	ID         int64          `json:"id"`
	ActorID    uuid.UUID      `json:"actor_id"`
	Action     string         `json:"action"`
	TargetKind string         `json:"target_kind"`
	TargetID   uuid.UUID      `json:"target_id"`
	Data       map[string]any `json:"data"`
	At         time.Time      `json:"at"`
}

// auditLog lists the tenant's audit entries newest first. ?limit= (1 to
// 200, default 50); ?before= an entry id, to read the page after one whose
// last entry had it. next_before is that cursor, null on the last page.
func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	limit, before := 50, int64(0)
	var err error
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "limit must be a number"})
			return
		}
	}
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "before must be an entry id"})
			return
		}
	}
	es, err := s.accounts.AuditLog(r.Context(), sess.User.TenantID, before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Entries    []auditJSON `json:"entries"`
		NextBefore *int64      `json:"next_before"`
	}{Entries: make([]auditJSON, len(es))}
	for i, e := range es {
		out.Entries[i] = auditJSON{ID: e.ID, ActorID: e.ActorID, Action: e.Action, TargetKind: e.TargetKind,
			TargetID: e.TargetID, Data: e.Data, At: e.At}
	}
	if len(es) == limit {
		next := es[len(es)-1].ID
		out.NextBefore = &next
	}
	writeJSON(w, http.StatusOK, out)
}
