package agentdesk

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/org"
)

// PhoneAdmin is what the desk needs of org to let admins configure the
// tenant's phone connectors, their hotline numbers and agents' phones.
// org.Store implements it.
type PhoneAdmin interface {
	PhoneConnectors(ctx context.Context, tenant uuid.UUID) ([]org.PhoneConnector, error)
	TenantPhoneConnector(ctx context.Context, tenant, id uuid.UUID) (org.PhoneConnector, error)
	CreatePhoneConnector(ctx context.Context, tenant, actor uuid.UUID, in org.PhoneConnectorSettings) (org.PhoneConnector, string, error)
	UpdatePhoneConnector(ctx context.Context, tenant, id, actor uuid.UUID, in org.PhoneConnectorUpdate) (org.PhoneConnector, error)
	DeactivatePhoneConnector(ctx context.Context, tenant, id, actor uuid.UUID) error
	RotatePhoneConnectorToken(ctx context.Context, tenant, id, actor uuid.UUID) (string, error)

	PhoneNumbers(ctx context.Context, tenant, connector uuid.UUID) ([]org.PhoneNumber, error)
	SetPhoneNumber(ctx context.Context, tenant, actor uuid.UUID, n org.PhoneNumber) (org.PhoneNumber, error)
	DeletePhoneNumber(ctx context.Context, tenant, connector, actor uuid.UUID, number string) error

	AgentPhones(ctx context.Context, tenant, connector uuid.UUID) ([]org.AgentPhone, error)
	AgentPhoneOn(ctx context.Context, tenant, connector, agent uuid.UUID) (org.AgentPhone, error)
	SetAgentPhone(ctx context.Context, tenant, actor uuid.UUID, p org.AgentPhone) error
	DeleteAgentPhone(ctx context.Context, tenant, connector, agent, actor uuid.UUID) error
	// Agent tells another tenant's agent (404) from a bad setting (400).
	Agent(ctx context.Context, tenant, id uuid.UUID) (org.Agent, error)
}

var errNoPhoneAdmin = &deskError{http.StatusServiceUnavailable, "unavailable", "the phone channel's settings are not available on this server"}

// phoneConnectorJSON is a connector as the API shows it: every setting but
// the secret, which is write-only, and what to set up at the telephony.
type phoneConnectorJSON struct {
	ID          uuid.UUID      `json:"id"`
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Mode        string         `json:"mode"`
	CallbackURL string         `json:"callback_url"`
	AccountSID  string         `json:"account_sid"`
	APIBase     string         `json:"api_base"`
	Address     string         `json:"address"`
	Username    string         `json:"username"`
	Context     string         `json:"context"`
	Active      bool           `json:"active"`
	CreatedAt   time.Time      `json:"created_at"`
	Telephony   phoneSetupJSON `json:"telephony"`
	// URLToken is a Zammad-format connector's token, in the answers to its
	// creation and rotation only: Switchboard keeps just its hash.
	URLToken string `json:"url_token,omitempty"`
}

// phoneSetupJSON says what the admin configures at the telephony.
type phoneSetupJSON struct {
	// WebhookURL: where the PBX posts call events (generic; Zammad only
	// with its token, so only when the token is shown).
	WebhookURL string `json:"webhook_url,omitempty"`
	// VoiceURL and StatusCallbackURL: a Twilio number's "A call comes in"
	// and "Call status changes".
	VoiceURL          string `json:"voice_url,omitempty"`
	StatusCallbackURL string `json:"status_callback_url,omitempty"`
	// CommandURL: where Switchboard sends its signed commands (a generic
	// connector in control mode: the callback URL).
	CommandURL   string `json:"command_url,omitempty"`
	Instructions string `json:"instructions"`
}

// phoneConnectorOut shows c; token is the Zammad URL token when it has
// just been made, else "".
func (s *Server) phoneConnectorOut(c org.PhoneConnector, token string) phoneConnectorJSON {
	out := phoneConnectorJSON{ID: c.ID, Name: c.Name, Kind: c.Kind, Mode: c.Mode, CallbackURL: c.CallbackURL,
		AccountSID: c.AccountSID, APIBase: c.APIBase, Address: c.Address, Username: c.Username, Context: c.Context,
		Active: c.Active, CreatedAt: c.CreatedAt, URLToken: token}
	base := strings.TrimRight(s.cfg.PublicURL, "/") + "/phone"
	set := &out.Telephony
	switch c.Kind {
	case "generic":
		set.WebhookURL = base + "/cti/" + c.ID.String()
		set.Instructions = "POST every call event to webhook_url, signed with HMAC-SHA256 under the connector's secret " +
			"(X-Switchboard-Timestamp, X-Switchboard-Signature: see docs/phone.md, Generic CTI webhook)."
		if c.Mode == "control" {
			set.CommandURL = c.CallbackURL
			set.Instructions += " Switchboard POSTs connect, cancel, hold and unhold commands to command_url, signed with the " +
				"same secret: verify them, act once per Idempotency-Key, answer 2xx within 5 seconds."
		} else {
			set.Instructions += " The PBX routes its calls; a ringing event with an agent's extension pops the caller on that agent's console."
		}
	case "zammad":
		if token != "" {
			set.WebhookURL = base + "/zammad/" + url.PathEscape(token)
			set.Instructions = "Set the PBX's Zammad CTI (generic API) endpoint to webhook_url. The token in it is the only " +
				"credential and is shown this once: keep it secret. POST rotate-token for a new one; the old one then stops working."
		} else {
			set.Instructions = "The PBX posts to " + base + "/zammad/<token>. The token was shown once, when the connector was " +
				"created or its token last rotated; POST /api/phone/connectors/" + c.ID.String() + "/rotate-token for a new one " +
				"(the old one then stops working) and set it at the PBX."
		}
	case "twilio":
		set.VoiceURL = base + "/twilio/" + c.ID.String() + "/voice"
		set.StatusCallbackURL = base + "/twilio/" + c.ID.String() + "/status"
		set.Instructions = "On the Twilio number's Voice configuration set \"A call comes in\" to Webhook, HTTP POST, voice_url, " +
			"and \"Call status changes\" to HTTP POST, status_callback_url. The connector's secret is the account's Auth Token: " +
			"it verifies every webhook and authenticates the REST calls."
	case "asterisk":
		set.Instructions = "Switchboard connects to the Asterisk Manager Interface at address and logs in as username with the " +
			"connector's secret (manager.conf: read = call,agent; write = call,originate,reporting). Nothing is posted to " +
			"Switchboard. In control mode accepted calls are redirected to agents' extensions in context."
	}
	if !c.Active {
		set.Instructions = "Inactive: the telephony's requests are refused until the connector is activated again (PATCH active=true). " +
			set.Instructions
	}
	return out
}

// phoneConnectorBody is a POST or PATCH body. On PATCH fields left out
// stay; the kind never changes.
type phoneConnectorBody struct {
	Name        *string `json:"name"`
	Kind        *string `json:"kind"`
	Mode        *string `json:"mode"`
	Secret      *string `json:"secret"`
	CallbackURL *string `json:"callback_url"`
	AccountSID  *string `json:"account_sid"`
	APIBase     *string `json:"api_base"`
	Address     *string `json:"address"`
	Username    *string `json:"username"`
	Context     *string `json:"context"`
	Active      *bool   `json:"active"`
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// phoneAdminSession is the admin's session, or false once the answer is
// written (no phone settings on this server).
func (s *Server) phoneAdminSession(w http.ResponseWriter, r *http.Request) (session, bool) {
	sess, _ := sessionFrom(r.Context())
	if s.phoneAdmin == nil {
		s.writeError(w, r, errNoPhoneAdmin)
		return session{}, false
	}
	return sess, true
}

func (s *Server) listPhoneConnectors(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	cs, err := s.phoneAdmin.PhoneConnectors(r.Context(), sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]phoneConnectorJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.phoneConnectorOut(c, ""))
	}
	writeJSON(w, http.StatusOK, out)
}

// createPhoneConnector adds a connector. A Zammad-format connector's URL
// token is in this answer only.
func (s *Server) createPhoneConnector(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	var body phoneConnectorBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case body.Active != nil:
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "a new connector is active; deactivate it afterwards"})
		return
	case deref(body.Kind) == "zammad" && body.Secret != nil:
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid",
			"a Zammad-format connector has no secret: its URL token, made by Switchboard, is the credential"})
		return
	}
	c, token, err := s.phoneAdmin.CreatePhoneConnector(r.Context(), sess.User.TenantID, sess.User.ID, org.PhoneConnectorSettings{
		Name: deref(body.Name), Kind: deref(body.Kind), Mode: deref(body.Mode), Secret: deref(body.Secret),
		CallbackURL: deref(body.CallbackURL), AccountSID: deref(body.AccountSID), APIBase: deref(body.APIBase),
		Address: deref(body.Address), Username: deref(body.Username), Context: deref(body.Context)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Ids and the kind only: names, addresses and secrets stay out of the log.
	s.log.InfoContext(r.Context(), "phone connector created", "tenant_id", sess.User.TenantID, "connector_id", c.ID,
		"kind", c.Kind, "user_id", sess.User.ID)
	writeJSON(w, http.StatusCreated, s.phoneConnectorOut(c, token))
}

// phoneConnectorID is the connector of the path, which must be the
// caller's tenant's (404 otherwise).
func (s *Server) phoneConnectorID(r *http.Request, tenant uuid.UUID) (uuid.UUID, error) {
	id, err := urlID(r)
	if err != nil {
		return uuid.Nil, err
	}
	if _, err := s.phoneAdmin.TenantPhoneConnector(r.Context(), tenant, id); err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

func (s *Server) getPhoneConnector(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.phoneAdmin.TenantPhoneConnector(r.Context(), sess.User.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.phoneConnectorOut(c, ""))
}

func (s *Server) updatePhoneConnector(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body phoneConnectorBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.Kind != nil {
		cur, err := s.phoneAdmin.TenantPhoneConnector(r.Context(), sess.User.TenantID, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if *body.Kind != cur.Kind {
			s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "a connector's kind cannot change: create a new connector"})
			return
		}
	}
	c, err := s.phoneAdmin.UpdatePhoneConnector(r.Context(), sess.User.TenantID, id, sess.User.ID, org.PhoneConnectorUpdate{
		Name: body.Name, Mode: body.Mode, Secret: body.Secret, CallbackURL: body.CallbackURL, AccountSID: body.AccountSID,
		APIBase: body.APIBase, Address: body.Address, Username: body.Username, Context: body.Context, Active: body.Active})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "phone connector updated", "tenant_id", sess.User.TenantID, "connector_id", id,
		"user_id", sess.User.ID, "new_secret", body.Secret != nil)
	writeJSON(w, http.StatusOK, s.phoneConnectorOut(c, ""))
}

// deactivatePhoneConnector is the DELETE of a connector: its calls stay on
// record, so it is switched off rather than removed.
func (s *Server) deactivatePhoneConnector(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.phoneAdmin.DeactivatePhoneConnector(r.Context(), sess.User.TenantID, id, sess.User.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.phoneAdmin.TenantPhoneConnector(r.Context(), sess.User.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "phone connector deactivated", "tenant_id", sess.User.TenantID, "connector_id", id, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, s.phoneConnectorOut(c, ""))
}

// rotatePhoneToken gives a Zammad-format connector a new URL token, shown
// in this answer only; the old one is refused from now on.
func (s *Server) rotatePhoneToken(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	token, err := s.phoneAdmin.RotatePhoneConnectorToken(r.Context(), sess.User.TenantID, id, sess.User.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.phoneAdmin.TenantPhoneConnector(r.Context(), sess.User.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "phone connector token rotated", "tenant_id", sess.User.TenantID, "connector_id", id, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, s.phoneConnectorOut(c, token))
}

// phoneNumberJSON is a hotline number: the dealer's, not personal data.
type phoneNumberJSON struct {
	ID          uuid.UUID             `json:"id"`
	ConnectorID uuid.UUID             `json:"connector_id"`
	Number      string                `json:"number"`
	SiteID      *uuid.UUID            `json:"site_id"`
	QueueID     uuid.UUID             `json:"queue_id"`
	Language    string                `json:"language"`
	Menu        []org.PhoneMenuOption `json:"menu"`
}

func phoneNumberOut(n org.PhoneNumber) phoneNumberJSON {
	out := phoneNumberJSON{ID: n.ID, ConnectorID: n.ConnectorID, Number: n.Number, QueueID: n.QueueID, Language: n.Language, Menu: n.Menu}
	if n.SiteID != uuid.Nil {
		out.SiteID = &n.SiteID
	}
	if out.Menu == nil {
		out.Menu = []org.PhoneMenuOption{}
	}
	return out
}

// phoneNumberBody is a PUT of a number: the whole setting, the number
// itself in the path.
type phoneNumberBody struct {
	SiteID   *uuid.UUID            `json:"site_id"`
	QueueID  *uuid.UUID            `json:"queue_id"`
	Language string                `json:"language"`
	Menu     []org.PhoneMenuOption `json:"menu"`
}

func (s *Server) listPhoneNumbers(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ns, err := s.phoneAdmin.PhoneNumbers(r.Context(), sess.User.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]phoneNumberJSON, 0, len(ns))
	for _, n := range ns {
		out = append(out, phoneNumberOut(n))
	}
	writeJSON(w, http.StatusOK, out)
}

// pathNumber is the {number} of the path, unescaped: a client may send
// the + of an E.164 number as %2B.
func pathNumber(r *http.Request) (string, error) {
	n, err := url.PathUnescape(chi.URLParam(r, "number"))
	if err != nil || n == "" {
		return "", &deskError{http.StatusBadRequest, "bad_id", "malformed number"}
	}
	return n, nil
}

// putPhoneNumber sets (adds or replaces) the number of the path on a
// connector: the site and default queue of calls to it, their language
// and menu. Calls reach the change within seconds (the hotline caches).
func (s *Server) putPhoneNumber(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	connector, err := s.phoneConnectorID(r, sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	number, err := pathNumber(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body phoneNumberBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.QueueID == nil || *body.QueueID == uuid.Nil {
		s.writeError(w, r, &deskError{http.StatusBadRequest, "invalid", "queue_id is required: the queue of calls that skip or leave the menu"})
		return
	}
	n := org.PhoneNumber{ConnectorID: connector, Number: number, QueueID: *body.QueueID, Language: body.Language, Menu: body.Menu}
	if body.SiteID != nil {
		n.SiteID = *body.SiteID
	}
	n, err = s.phoneAdmin.SetPhoneNumber(r.Context(), sess.User.TenantID, sess.User.ID, n)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "phone number set", "tenant_id", sess.User.TenantID, "connector_id", connector,
		"number_id", n.ID, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, phoneNumberOut(n))
}

func (s *Server) deletePhoneNumber(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	connector, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	number, err := pathNumber(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.phoneAdmin.DeletePhoneNumber(r.Context(), sess.User.TenantID, connector, sess.User.ID, number); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "phone number deleted", "tenant_id", sess.User.TenantID, "connector_id", connector, "user_id", sess.User.ID)
	w.WriteHeader(http.StatusNoContent)
}

// agentPhoneJSON is how an agent is reached through a connector. Number
// is the agent's own phone for dial "number": shown to admins, never logged.
type agentPhoneJSON struct {
	AgentID     uuid.UUID `json:"agent_id"`
	ConnectorID uuid.UUID `json:"connector_id"`
	Extension   string    `json:"extension"`
	Dial        string    `json:"dial"`
	Number      string    `json:"number"`
}

func agentPhoneOut(p org.AgentPhone) agentPhoneJSON {
	return agentPhoneJSON{AgentID: p.AgentID, ConnectorID: p.ConnectorID, Extension: p.Extension, Dial: p.Dial, Number: p.Number}
}

type agentPhoneBody struct {
	Extension string `json:"extension"`
	Dial      string `json:"dial"`
	Number    string `json:"number"`
}

func (s *Server) listAgentPhones(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	id, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ps, err := s.phoneAdmin.AgentPhones(r.Context(), sess.User.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]agentPhoneJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, agentPhoneOut(p))
	}
	writeJSON(w, http.StatusOK, out)
}

// pathAgent is the {agent} of the path, an agent of tenant (404 otherwise).
func (s *Server) pathAgent(r *http.Request, tenant uuid.UUID) (uuid.UUID, error) {
	agent, err := uuid.Parse(chi.URLParam(r, "agent"))
	if err != nil {
		return uuid.Nil, errBadID
	}
	if _, err := s.phoneAdmin.Agent(r.Context(), tenant, agent); err != nil {
		return uuid.Nil, err
	}
	return agent, nil
}

// putAgentPhone sets how the agent of the path is reached through the
// connector: the extension the PBX rings (and, in observe mode, whose
// rings pop on their console), or the number Twilio dials.
func (s *Server) putAgentPhone(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	connector, err := s.phoneConnectorID(r, sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	agent, err := s.pathAgent(r, sess.User.TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body agentPhoneBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	tenant := sess.User.TenantID
	if err := s.phoneAdmin.SetAgentPhone(r.Context(), tenant, sess.User.ID, org.AgentPhone{AgentID: agent, ConnectorID: connector,
		Extension: body.Extension, Dial: body.Dial, Number: body.Number}); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.phoneAdmin.AgentPhoneOn(r.Context(), tenant, connector, agent)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "agent phone set", "tenant_id", tenant, "connector_id", connector, "agent_id", agent, "user_id", sess.User.ID)
	writeJSON(w, http.StatusOK, agentPhoneOut(p))
}

func (s *Server) deleteAgentPhone(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.phoneAdminSession(w, r)
	if !ok {
		return
	}
	connector, err := urlID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	agent, err := uuid.Parse(chi.URLParam(r, "agent"))
	if err != nil {
		s.writeError(w, r, errBadID)
		return
	}
	if err := s.phoneAdmin.DeleteAgentPhone(r.Context(), sess.User.TenantID, connector, agent, sess.User.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "agent phone deleted", "tenant_id", sess.User.TenantID, "connector_id", connector,
		"agent_id", agent, "user_id", sess.User.ID)
	w.WriteHeader(http.StatusNoContent)
}
