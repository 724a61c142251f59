package agentdesk

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/internal/ratelimit"
	"github.com/switchboard-cc/switchboard/internal/redistest"
)

// access says who may call each route. A new route fails this test until it
// is classified here, and a route that takes an id until the cross-tenant
// test in cmd/switchboard (TestBadInputGetsClearAnswers, "another tenant's
// customer") calls it with another tenant's id.
var access = map[string]string{
	"GET /healthz":                     "public",
	"GET /readyz":                      "public",
	"GET /metrics":                     "public",
	"GET /static/*":                    "public",
	"GET /chat.js":                     "public",
	"GET /demo":                        "public",
	"GET /chat/ws":                     "public (site key and origin checked)",
	"GET /":                            "public (redirects)",
	"GET /login":                       "public",
	"POST /login":                      "public (same origin, rate limited)",
	"POST /logout":                     "session + CSRF",
	"GET /console":                     "agent",
	"GET /ws/agent":                    "agent",
	"GET /api/customers/{id}/timeline": "agent or API key with the timeline scope, cross-tenant tested",
	"GET /api/search":                  "agent (no id; results are the caller's tenant and scope: crm TestSearchScopeAndTenant)",
	"GET /wallboard":                   "supervisor",
	"GET /ws/wallboard":                "supervisor",
	"POST /api/agents/{id}/presence":   "supervisor, cross-tenant tested",
	"POST /api/contacts/{id}/queue":    "supervisor, cross-tenant tested",
	"GET /api/queues":                  "supervisor",
	"PATCH /api/queues/{id}":           "admin, cross-tenant tested",
	"GET /api/agents":                  "supervisor",
	"PATCH /api/agents/{id}":           "admin, cross-tenant tested",
	"GET /api/audit":                   "admin",
	"GET /admin":                       "admin (the session's tenant only)",

	// Reports (reports.go): the queue filter's ids are checked against the
	// caller's tenant (TestReportsJSONAndRefusals: another tenant's queue is 404).
	"GET /reports":     "supervisor (queue filter: another tenant's id is 404)",
	"GET /api/reports": "supervisor (queue filter: another tenant's id is 404)",

	// The wallboard's (cmd/switchboard TestWallboardAPI has their cross-tenant cases).
	"GET /api/wallboard":              "supervisor (the session's tenant only)",
	"GET /api/queues/{id}/waiting":    "supervisor, cross-tenant tested",
	"PUT /api/queues/{id}/thresholds": "supervisor, cross-tenant tested",
	"POST /api/contacts/{id}/agent":   "supervisor, cross-tenant tested",

	// Callbacks (cmd/switchboard TestCallbackAPIRefusals has their cross-tenant cases).
	"POST /api/callbacks":                      "agent (customer, queue and origin ids: cross-tenant tested)",
	"POST /api/contacts/{id}/callback-outcome": "agent holding the contact, cross-tenant tested",
	"POST /api/contacts/{id}/dial":             "agent holding the callback, cross-tenant tested (TestCallbackClickToCall: an unknown id is 404)",
	"GET /api/callbacks":                       "supervisor",

	// Privacy and ownership (cmd/switchboard TestPrivacy has their cross-tenant cases).
	"POST /api/customers/{id}/reveal": "agent (403 below the tenant's reveal role; audited), cross-tenant tested",
	"POST /api/customers/{id}/owner":  "agent claims or releases, supervisor sets; cross-tenant tested",
	"POST /api/customers/{id}/shares": "owner or supervisor, cross-tenant tested",

	// Duplicates, merge, recycle bin: cmd/switchboard
	// TestMergeAndRecycleBinOverHTTP has their cross-tenant cases (path and
	// body ids; another tenant's live, binned and merged records), and
	// TestChooseCustomerEndToEnd those of the console's choose_customer.
	"GET /api/customers/{id}/duplicates":          "agent, cross-tenant tested",
	"POST /api/customers/{id}/duplicates/dismiss": "agent (session only), cross-tenant tested (path and body ids)",
	"GET /api/duplicates":                         "supervisor",
	"POST /api/customers/{id}/merge":              "supervisor, cross-tenant tested (path and body ids)",
	"POST /api/merges/{id}/undo":                  "supervisor, cross-tenant tested",
	"DELETE /api/customers/{id}":                  "supervisor, cross-tenant tested",
	"POST /api/customers/{id}/restore":            "supervisor, cross-tenant tested",
	"GET /api/recycle-bin":                        "supervisor",

	// CRM records for people (session) and systems (API key); cmd/switchboard
	// TestCRMAPI has their cross-tenant cases (path and body ids).
	"GET /api/openapi.json":                            "public (describes the API; no data)",
	"POST /api/api-keys":                               "admin (session only)",
	"GET /api/api-keys":                                "admin (session only)",
	"DELETE /api/api-keys/{id}":                        "admin (session only), cross-tenant tested",
	"POST /api/customers":                              "agent or API key (write)",
	"GET /api/customers/{id}":                          "agent or API key, cross-tenant tested",
	"PATCH /api/customers/{id}":                        "agent or API key (write), cross-tenant tested",
	"POST /api/customers/{id}/identities":              "agent or API key (write), cross-tenant tested",
	"DELETE /api/customers/{id}/identities/{identity}": "agent or API key (write), cross-tenant tested",
	"GET /api/customers/{id}/vehicles":                 "agent or API key, cross-tenant tested",
	"POST /api/customers/{id}/vehicles":                "agent or API key (write), cross-tenant tested",
	"GET /api/vehicles/{id}":                           "agent or API key, cross-tenant tested",
	"PATCH /api/vehicles/{id}":                         "agent or API key (write), cross-tenant tested",
	"DELETE /api/vehicles/{id}":                        "supervisor or API key (write), cross-tenant tested",
	"GET /api/customers/{id}/orders":                   "agent or API key, cross-tenant tested",
	"POST /api/customers/{id}/orders":                  "agent or API key (write), cross-tenant tested",
	"GET /api/orders/{id}":                             "agent or API key, cross-tenant tested",
	"PATCH /api/orders/{id}":                           "agent or API key (write), cross-tenant tested",
	"GET /api/customers/{id}/deals":                    "agent or API key, cross-tenant tested",
	"POST /api/customers/{id}/deals":                   "agent or API key (write), cross-tenant tested",
	"GET /api/deals/{id}":                              "agent or API key, cross-tenant tested",
	"PATCH /api/deals/{id}":                            "agent or API key (write), cross-tenant tested",
	"GET /api/customers/{id}/follow-ups":               "agent or API key, cross-tenant tested",
	"POST /api/customers/{id}/follow-ups":              "agent or API key (write), cross-tenant tested",
	"PATCH /api/follow-ups/{id}":                       "agent or API key (write), cross-tenant tested",
	"DELETE /api/follow-ups/{id}":                      "agent or API key (write), cross-tenant tested",
	// {system} and {external_id} are the caller's own names, scoped to its tenant.
	"PUT /api/ext/{system}/customers/{external_id}": "admin or API key (write), cross-tenant tested",
	"PUT /api/ext/{system}/vehicles/{external_id}":  "admin or API key (write), cross-tenant tested",
	"PUT /api/ext/{system}/orders/{external_id}":    "admin or API key (write), cross-tenant tested",
	"PUT /api/ext/{system}/deals/{external_id}":     "admin or API key (write), cross-tenant tested",

	// The widget's other routes, the console's attachments and the sites'
	// chat settings; cmd/switchboard TestChatAttachments and
	// TestChatSettingsAdmin have the cases of another visitor's and another
	// tenant's ids.
	"GET /chat/settings":         "public (site key; settings carry no secret)",
	"POST /chat/attachments":     "public (visitor token of the chat; site key and origin checked)",
	"GET /chat/attachments/{id}": "public (visitor token of the attachment's chat), cross-tenant tested",

	"GET /api/contacts/{id}/attachments/{attachment}": "agent, cross-tenant tested",
	"POST /api/contacts/{id}/chat/attachments":        "agent holding the chat, cross-tenant tested (TestAgentSendsAttachment)",

	"GET /api/sites/{id}/chat-settings": "admin, cross-tenant tested",
	"PUT /api/sites/{id}/chat-settings": "admin, cross-tenant tested",
	"POST /api/sites/{id}/chat-secret":  "admin, cross-tenant tested",

	// Webhook receivers and the customer import; cmd/switchboard
	// TestWebhooksOverHTTP has the cross-tenant case (DELETE, and the
	// deliveries' endpoint_id), TestImportOverHTTP the import's refusals.
	"POST /api/webhooks":           "admin (session only)",
	"GET /api/webhooks":            "admin (session only)",
	"DELETE /api/webhooks/{id}":    "admin (session only), cross-tenant tested",
	"GET /api/webhooks/deliveries": "admin (session only; endpoint_id cross-tenant tested)",
	"POST /api/import":             "admin (session only; body limit SWITCHBOARD_IMPORT_MAX_BODY)",

	// E-mail mailboxes; cmd/switchboard TestMailboxesOverHTTP has the
	// cross-tenant cases (PATCH and DELETE of another tenant's mailbox,
	// another tenant's queue in the body).
	"GET /api/mailboxes":         "admin",
	"POST /api/mailboxes":        "admin (queue and site ids: cross-tenant tested)",
	"PATCH /api/mailboxes/{id}":  "admin, cross-tenant tested",
	"DELETE /api/mailboxes/{id}": "admin, cross-tenant tested",

	// Phone connectors, numbers and agents' phones; cmd/switchboard
	// TestPhoneAdminOverHTTP has the cross-tenant cases (every route with
	// another tenant's connector; another tenant's agent, queue and site).
	"GET /api/phone/connectors":                          "admin",
	"POST /api/phone/connectors":                         "admin (audited)",
	"GET /api/phone/connectors/{id}":                     "admin, cross-tenant tested",
	"PATCH /api/phone/connectors/{id}":                   "admin, cross-tenant tested",
	"DELETE /api/phone/connectors/{id}":                  "admin (deactivates), cross-tenant tested",
	"POST /api/phone/connectors/{id}/rotate-token":       "admin (Zammad), cross-tenant tested",
	"GET /api/phone/connectors/{id}/numbers":             "admin, cross-tenant tested",
	"PUT /api/phone/connectors/{id}/numbers/{number}":    "admin, cross-tenant tested (connector; queue and site in the body)",
	"DELETE /api/phone/connectors/{id}/numbers/{number}": "admin, cross-tenant tested",
	"GET /api/phone/connectors/{id}/agents":              "admin, cross-tenant tested",
	"PUT /api/phone/connectors/{id}/agents/{agent}":      "admin, cross-tenant tested (connector and agent)",
	"DELETE /api/phone/connectors/{id}/agents/{agent}":   "admin, cross-tenant tested (connector and agent)",

	// The e-mail panel, replies and canned responses (email.go);
	// cmd/switchboard TestEmailReplyEndToEnd has the cross-tenant cases
	// (another tenant's contact, e-mail, attachment and canned response).
	"GET /api/contacts/{id}/email":                          "agent, cross-tenant tested",
	"POST /api/contacts/{id}/email/reply":                   "agent holding the contact (409 otherwise), cross-tenant tested",
	"POST /api/contacts/{id}/email/pending":                 "agent holding the contact (409 otherwise), cross-tenant tested",
	"POST /api/contacts/{id}/email/uploads":                 "agent holding the contact, cross-tenant tested",
	"GET /api/contacts/{id}/email/attachments/{attachment}": "agent, cross-tenant tested",
	"POST /api/contacts/{id}/email/outbox/{outbox}/retry":   "agent, cross-tenant tested",
	"POST /api/contacts/{id}/transcript":                    "agent, cross-tenant tested",
	"GET /api/canned-responses":                             "agent (contact id cross-tenant tested)",
	"GET /api/canned-responses/{id}":                        "agent, cross-tenant tested",
	"POST /api/canned-responses":                            "admin",
	"PATCH /api/canned-responses/{id}":                      "admin, cross-tenant tested",
	"DELETE /api/canned-responses/{id}":                     "admin, cross-tenant tested",

	// Privacy settings, teams and unsharing; cmd/switchboard
	// TestPrivacyAdminOverHTTP has the cross-tenant cases (another tenant's
	// team, user, customer and share; another tenant's site in the body).
	"GET /api/settings/privacy":                 "admin",
	"PATCH /api/settings/privacy":               "admin (audited)",
	"GET /api/teams":                            "admin",
	"POST /api/teams":                           "admin (site id cross-tenant tested; audited)",
	"PATCH /api/teams/{id}":                     "admin, cross-tenant tested",
	"DELETE /api/teams/{id}":                    "admin, cross-tenant tested",
	"PUT /api/teams/{id}/members/{user}":        "admin, cross-tenant tested (team and user)",
	"DELETE /api/teams/{id}/members/{user}":     "admin, cross-tenant tested (team and user)",
	"DELETE /api/customers/{id}/shares/{share}": "admin, cross-tenant tested (customer and share)",
}

func TestEveryRouteIsClassified(t *testing.T) {
	s, err := NewServer(Config{PublicURL: "http://localhost:8080"}, testDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = chi.Walk(s.Handler(prometheus.NewRegistry()).(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		key := method + " " + route
		seen[key] = true
		how, ok := access[key]
		switch {
		case !ok:
			t.Errorf("route %s is not classified in access", key)
		case strings.Contains(route, "{") && !strings.Contains(how, "cross-tenant tested"):
			t.Errorf("route %s takes an id but has no cross-tenant test", key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range access {
		if !seen[k] {
			t.Errorf("access lists %s, which is not a route any more", k)
		}
	}
}

// TestProtectedRoutesRefuseAnonymousCallers: without a session no agent or
// supervisor route answers with anything but a redirect to the login or 401.
func TestProtectedRoutesRefuseAnonymousCallers(t *testing.T) {
	s, err := NewServer(Config{PublicURL: "http://localhost:8080"}, testDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler(prometheus.NewRegistry())
	for key, how := range access {
		if strings.HasPrefix(how, "public") {
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		path = strings.ReplaceAll(path, "{id}", "0193b2c4-0000-7000-8000-000000000000")
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Origin", "http://localhost:8080")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden {
			t.Errorf("anonymous %s = %d, want a redirect to the login, 401 or 403", key, rec.Code)
		}
	}
}

func testDeps(t *testing.T) Deps {
	rdb, prefix := redistest.New(t)
	return Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Chat: http.NotFoundHandler(), Limiter: ratelimit.New(rdb, prefix)}
}
