package agentdesk

import (
	"context"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

// Webhooks is what the desk needs of crm to let admins register the
// tenant's webhook receivers and watch their deliveries. crm.Store
// implements it.
type Webhooks interface {
	CreateWebhookEndpoint(ctx context.Context, tenant, actor uuid.UUID, n crm.NewWebhookEndpoint) (crm.WebhookEndpoint, error)
	WebhookEndpoints(ctx context.Context, tenant uuid.UUID) ([]crm.WebhookEndpoint, error)
	DeleteWebhookEndpoint(ctx context.Context, tenant, actor, id uuid.UUID) error
	WebhookDeliveries(ctx context.Context, tenant, endpoint uuid.UUID, limit int) ([]crm.WebhookDelivery, error)
}

var errNoWebhooks = &deskError{http.StatusServiceUnavailable, "unavailable", "webhooks are not available on this server"}

// createWebhook registers a receiver and shows its signing secret this
// once: listings never carry it. events empty or absent: every event.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.webhooks == nil {
		s.writeError(w, r, errNoWebhooks)
		return
	}
	var body struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.webhooks.CreateWebhookEndpoint(r.Context(), sess.User.TenantID, sess.User.ID,
		crm.NewWebhookEndpoint{URL: body.URL, Events: body.Events})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Not the URL: its query string may carry the receiver's own token.
	s.log.InfoContext(r.Context(), "webhook endpoint created", "tenant_id", sess.User.TenantID,
		"webhook_id", e.ID, "user_id", sess.User.ID)
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.webhooks == nil {
		s.writeError(w, r, errNoWebhooks)
		return
	}
	es, err := s.webhooks.WebhookEndpoints(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if es == nil {
		es = []crm.WebhookEndpoint{}
	}
	for i := range es {
		es[i].Secret = "" // crm leaves it out already; a listing must never show it
	}
	writeJSON(w, http.StatusOK, es)
}

// deleteWebhook removes a receiver with its pending deliveries. Another
// tenant's endpoint is 404, as a missing one.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.webhooks == nil {
		s.writeError(w, r, errNoWebhooks)
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.webhooks.DeleteWebhookEndpoint(r.Context(), sess.User.TenantID, sess.User.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "webhook endpoint deleted", "tenant_id", sess.User.TenantID,
		"webhook_id", id, "user_id", sess.User.ID)
	w.WriteHeader(http.StatusNoContent)
}

// webhookDeliveries lists the newest deliveries, newest first: event,
// attempts, state and times, never the payload (it may carry a customer's
// data). ?limit= 1 to 500 (default 50); ?endpoint_id= one receiver's only.
func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	sess, _ := sessionFrom(r.Context())
	if s.webhooks == nil {
		s.writeError(w, r, errNoWebhooks)
		return
	}
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "limit must be a number from 1 to 500"})
			return
		}
		limit = n
	}
	endpoint := uuid.Nil
	if v := q.Get("endpoint_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			s.writeError(w, r, errBadID)
			return
		}
		endpoint = id
	}
	ds, err := s.webhooks.WebhookDeliveries(r.Context(), sess.User.TenantID, endpoint, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ds == nil {
		ds = []crm.WebhookDelivery{}
	}
	writeJSON(w, http.StatusOK, ds)
}
