package agentdesk

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

type queueJSON struct {
	ID                  uuid.UUID      `json:"id"`
	Name                string         `json:"name"`
	Strategy            string         `json:"strategy"`
	Priority            int            `json:"priority"`
	Skills              map[string]int `json:"skills"`
	SLASeconds          int            `json:"sla_seconds"`
	OfferTimeoutSeconds int            `json:"offer_timeout_seconds"`
	WrapUpSeconds       int            `json:"wrap_up_seconds"`
}

func toQueueJSON(q org.Queue) queueJSON {
	return queueJSON{ID: q.ID, Name: q.Name, Strategy: q.Strategy, Priority: q.Priority, Skills: q.Skills,
		SLASeconds: int(q.SLA / time.Second), OfferTimeoutSeconds: int(q.OfferTimeout / time.Second), WrapUpSeconds: int(q.WrapUp / time.Second)}
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

// updateQueue edits a queue's routing settings; routing re-reads the queues
// at once, so the change applies to the next decision.
func (s *Server) updateQueue(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		Strategy            *string        `json:"strategy"`
		Priority            *int           `json:"priority"`
		Skills              map[string]int `json:"skills"`
		SLASeconds          *int           `json:"sla_seconds"`
		OfferTimeoutSeconds *int           `json:"offer_timeout_seconds"`
		WrapUpSeconds       *int           `json:"wrap_up_seconds"`
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
		SLA: dur(body.SLASeconds), OfferTimeout: dur(body.OfferTimeoutSeconds), WrapUp: dur(body.WrapUpSeconds)}
	q, err := s.accounts.UpdateQueue(r.Context(), sess.User.TenantID, id, set, routing.Strategies)
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
