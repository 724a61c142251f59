package agentdesk

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
	"github.com/switchboard-cc/switchboard/routing/dispatch"
)

// Callbacks is what the desk needs of crm's callbacks: agents schedule
// them and report how an attempt went, supervisors list them, and the
// console learns which held contact is a callback attempt.
type Callbacks interface {
	ScheduleCallback(ctx context.Context, tenant uuid.UUID, n crm.NewCallback) (crm.Callback, error)
	Callbacks(ctx context.Context, tenant uuid.UUID, state string, limit int) ([]crm.Callback, error)
	CallbackOfContact(ctx context.Context, tenant, contact uuid.UUID) (crm.Callback, error)
	CallbackOutcome(ctx context.Context, tenant, agent, contact uuid.UUID, outcome string, retryAfter time.Duration) (crm.Callback, crm.Contact, error)
	// Unreturned counts per queue the callbacks owed for missed contacts.
	Unreturned(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]int, error)
}

var errNoCallbacks = &deskError{http.StatusServiceUnavailable, "unavailable", "callbacks are not available on this server"}

// scheduleCallback: an agent (or above) schedules a callback for a customer
// of their tenant. The phone defaults to the customer's phone identity.
func (s *Server) scheduleCallback(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.callbacks == nil {
		s.writeError(w, r, errNoCallbacks)
		return
	}
	var body struct {
		CustomerID      uuid.UUID  `json:"customer_id"`
		QueueID         uuid.UUID  `json:"queue_id"`
		OriginContactID uuid.UUID  `json:"origin_contact_id"`
		Phone           string     `json:"phone"`
		DueAt           *time.Time `json:"due_at"`
		Deadline        *time.Time `json:"deadline"`
		MaxAttempts     int        `json:"max_attempts"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case body.CustomerID == uuid.Nil:
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "customer_id is required"})
		return
	case body.QueueID == uuid.Nil:
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "queue_id is required"})
		return
	case body.DueAt == nil:
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "due_at is required (RFC 3339)"})
		return
	}
	n := crm.NewCallback{CustomerID: body.CustomerID, QueueID: body.QueueID, OriginContactID: body.OriginContactID,
		Phone: body.Phone, DueAt: *body.DueAt, MaxAttempts: body.MaxAttempts, CreatedBy: sess.User.ID}
	if body.Deadline != nil {
		n.Deadline = *body.Deadline
	}
	cb, err := s.callbacks.ScheduleCallback(r.Context(), sess.User.TenantID, n)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "callback scheduled", "by", sess.User.ID, "callback_id", cb.ID,
		"customer_id", cb.CustomerID, "queue_id", cb.QueueID)
	// Masked: scheduling is no way around the audited reveal; the agent
	// who takes the attempt gets the number to dial (addCallback).
	cb.Phone = crm.MaskPhone(cb.Phone)
	writeJSON(w, http.StatusCreated, cb)
}

// listCallbacks: a supervisor's view of the tenant's callbacks, soonest due
// first, optionally of one state.
func (s *Server) listCallbacks(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.callbacks == nil {
		s.writeError(w, r, errNoCallbacks)
		return
	}
	limit := 200
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "limit must be a number"})
			return
		}
		limit = n
	}
	cbs, err := s.callbacks.Callbacks(r.Context(), sess.User.TenantID, r.URL.Query().Get("state"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if cbs == nil {
		cbs = []crm.Callback{}
	}
	// A list of numbers is shown masked; the full number goes to the agent
	// who dials it (addCallback), or through an audited reveal.
	for i := range cbs {
		cbs[i].Phone = crm.MaskPhone(cbs[i].Phone)
	}
	writeJSON(w, http.StatusOK, cbs)
}

// callbackOutcome: the agent holding a callback attempt's contact says how
// it went; the contact closes as a close closes it, and the callback is
// done, failed or scheduled again.
func (s *Server) callbackOutcome(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.callbacks == nil {
		s.writeError(w, r, errNoCallbacks)
		return
	}
	contact, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		Outcome           string `json:"outcome"`
		RetryAfterSeconds int    `json:"retry_after_seconds"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	tenant := sess.User.TenantID
	// Another tenant's contact is "not found"; a contact of this tenant that
	// the caller does not hold is "not held".
	if _, err := s.contacts.Contact(r.Context(), tenant, contact); err != nil {
		s.writeError(w, r, err)
		return
	}
	cb, ct, err := s.callbacks.CallbackOutcome(r.Context(), tenant, sess.User.ID, contact, body.Outcome,
		time.Duration(body.RetryAfterSeconds)*time.Second)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.afterCallbackClose(r.Context(), tenant, sess.User.ID, ct)
	s.log.InfoContext(r.Context(), "callback outcome", "agent_id", sess.User.ID, "callback_id", cb.ID,
		"contact_id", contact, "outcome", body.Outcome, "state", cb.State, "attempts", cb.Attempts)
	writeJSON(w, http.StatusOK, cb)
}

// afterCallbackClose tells routing and the agent's consoles what a close
// tells them: the slot frees (or stays held for the wrap-up), and the
// contact's card turns into its closed (wrap-up) view.
func (s *Server) afterCallbackClose(ctx context.Context, tenant, agent uuid.UUID, ct crm.Contact) {
	cmd := dispatch.Command{Kind: dispatch.CmdRelease, ContactID: ct.ID, AgentID: agent}
	if ct.WrapUpUntil != nil {
		cmd = dispatch.Command{Kind: dispatch.CmdWrapUp, ContactID: ct.ID, AgentID: agent, Until: *ct.WrapUpUntil}
	}
	if err := s.command(ctx, tenant, cmd); err != nil {
		// Routing's next rebuild reads the wrap-up (or its end) back.
		s.log.WarnContext(ctx, "callback outcome: tell routing about the close", "contact_id", ct.ID, "err", err)
	}
	closed := frame{"type": "contact_closed", "contact_id": ct.ID, "state": ct.State, "customer_id": ct.CustomerID}
	if ct.WrapUpUntil != nil {
		closed["wrap_up_until"] = ct.WrapUpUntil.UTC()
	}
	s.publishUser(ctx, tenant, agent, closed)
}

// callbackJSON is what the console shows of a held callback attempt: the
// number to dial and how many tries it has had.
type callbackJSON struct {
	ID          uuid.UUID `json:"id"`
	Phone       string    `json:"phone"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"max_attempts"`
	Deadline    time.Time `json:"deadline"`
	LastOutcome string    `json:"last_outcome"`
}

// addCallback adds "callback" to a held contact's console frame when the
// contact is a callback attempt, so the console shows the number to dial
// and the outcome buttons. Other contacts' frames stay as they were. The
// number is in full (the agent dials it): a legitimate full view, audited
// for the agent holding it before it goes out (once per contact).
func (s *Server) addCallback(ctx context.Context, tenant, agent uuid.UUID, ct crm.Contact, f frame) error {
	if s.callbacks == nil || ct.Channel != org.Voice {
		return nil
	}
	cb, err := s.callbacks.CallbackOfContact(ctx, tenant, ct.ID)
	if errors.Is(err, crm.ErrNotFound) {
		return nil // an ordinary call
	} else if err != nil {
		return err
	}
	if err := s.contacts.AuditCallbackDial(ctx, tenant, agent, ct.ID); err != nil {
		return err
	}
	f["callback"] = callbackJSON{ID: cb.ID, Phone: cb.Phone, Attempts: cb.Attempts, MaxAttempts: cb.MaxAttempts,
		Deadline: cb.Deadline, LastOutcome: cb.LastOutcome}
	return nil
}
