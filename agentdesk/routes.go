package agentdesk

import (
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-cc/switchboard/agentdesk/web"
	"github.com/switchboard-cc/switchboard/org"
)

// Handler returns every route of the desk. gatherer serves /metrics.
func (s *Server) Handler(gatherer prometheus.Gatherer) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer, s.instrument, securityHeaders, s.limitBody, s.loadSession)

	// Probes and metrics carry no personal data and need no login.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))

	// Public: static assets, the demo dealer page, the chat widget's socket.
	static, _ := fs.Sub(web.Static(), ".")
	r.Method(http.MethodGet, "/static/*", http.StripPrefix("/static/", http.FileServerFS(static)))
	r.Get("/chat.js", s.chatScript)
	r.Get("/demo", s.demoPage)
	r.Method(http.MethodGet, "/chat/ws", s.chat)
	// The widget's other routes (channels/chat): settings for the pre-chat
	// form, and attachments guarded by the visitor token.
	r.Method(http.MethodGet, "/chat/settings", s.chat)
	r.Method(http.MethodPost, "/chat/attachments", s.chat)
	r.Method(http.MethodGet, "/chat/attachments/{id}", s.chat)

	// The phone connectors' webhooks (channels/phone): each authenticates
	// its telephony itself (HMAC, Twilio's signature, a URL token).
	if s.phone != nil {
		r.With(s.rateLimitPhone).Mount("/phone", s.phone)
	}

	r.Get("/", s.home)
	r.Get("/login", s.loginPage)
	r.With(s.sameOrigin).Post("/login", s.login)

	r.Group(func(r chi.Router) {
		r.Use(s.sameOrigin, s.requireCSRF)
		r.Post("/logout", s.logout)
	})

	// Agents and above.
	r.Group(func(r chi.Router) {
		r.Use(s.requireRole(org.RoleAgent), s.sameOrigin, s.requireCSRF)
		r.Get("/console", s.consolePage)
		r.Get("/ws/agent", s.agentSocket)
		r.Get("/api/customers/{id}/duplicates", s.customerDuplicates)
		r.Post("/api/customers/{id}/duplicates/dismiss", s.dismissDuplicate)
		r.Get("/api/search", s.search)
		r.Post("/api/callbacks", s.scheduleCallback)
		r.Post("/api/contacts/{id}/callback-outcome", s.callbackOutcome)
		r.Post("/api/contacts/{id}/dial", s.dialCallback)
		// Privacy and ownership (crm decides by role and tenant setting).
		r.Post("/api/customers/{id}/reveal", s.revealCustomer)
		r.Post("/api/customers/{id}/owner", s.setCustomerOwner)
		r.Post("/api/customers/{id}/shares", s.shareCustomer)
		r.Get("/api/contacts/{id}/attachments/{attachment}", s.contactAttachment)
		r.Post("/api/contacts/{id}/chat/attachments", s.chatUpload)
		// The e-mail panel (email.go): thread, reply, uploads, retry,
		// canned responses to pick from, chat transcripts by e-mail.
		r.Get("/api/contacts/{id}/email", s.emailThread)
		r.Post("/api/contacts/{id}/email/reply", s.emailReply)
		r.Post("/api/contacts/{id}/email/pending", s.emailPending)
		r.Post("/api/contacts/{id}/email/uploads", s.emailUpload)
		r.Get("/api/contacts/{id}/email/attachments/{attachment}", s.emailAttachment)
		r.Post("/api/contacts/{id}/email/outbox/{outbox}/retry", s.emailRetry)
		r.Post("/api/contacts/{id}/transcript", s.sendTranscript)
		r.Get("/api/canned-responses", s.cannedList)
		r.Get("/api/canned-responses/{id}", s.cannedGet)
	})

	// Supervisors and admins.
	r.Group(func(r chi.Router) {
		r.Use(s.requireRole(org.RoleSupervisor), s.sameOrigin, s.requireCSRF)
		r.Get("/wallboard", s.wallboardPage)
		r.Get("/ws/wallboard", s.wallboardSocket)
		r.Post("/api/agents/{id}/presence", s.forcePresence)
		r.Post("/api/contacts/{id}/queue", s.moveContact)
		// The wallboard (wallboard.go): its filters, thresholds and history;
		// a queue's waiting contacts; sending one to a named agent.
		r.Get("/api/wallboard", s.wallboardContext)
		r.Get("/api/queues/{id}/waiting", s.queueWaiting)
		r.Put("/api/queues/{id}/thresholds", s.setQueueThresholds)
		r.Post("/api/contacts/{id}/agent", s.moveContactToAgent)
		// Duplicates, merge and undo, the recycle bin (crm_merge.go).
		r.Get("/api/duplicates", s.duplicateSuggestions)
		r.Post("/api/customers/{id}/merge", s.mergeCustomers)
		r.Post("/api/merges/{id}/undo", s.undoMerge)
		r.Delete("/api/customers/{id}", s.deleteCustomer)
		r.Post("/api/customers/{id}/restore", s.restoreCustomer)
		r.Get("/api/recycle-bin", s.recycleBin)
		r.Get("/api/queues", s.listQueues)
		r.Get("/api/callbacks", s.listCallbacks)
		r.Get("/api/agents", s.listAgents)
		// Reports (reports.go): the builder's tables, JSON or CSV.
		r.Get("/reports", s.reportsPage)
		r.Get("/api/reports", s.reportsAPI)
	})

	// Admins.
	r.Group(func(r chi.Router) {
		r.Use(s.requireRole(org.RoleAdmin), s.sameOrigin, s.requireCSRF)
		r.Get("/admin", s.adminPage)
		r.Patch("/api/queues/{id}", s.updateQueue)
		r.Patch("/api/agents/{id}", s.updateAgent)
		r.Get("/api/audit", s.auditLog)
		r.Get("/api/sites/{id}/chat-settings", s.siteChatSettings)
		r.Put("/api/sites/{id}/chat-settings", s.setSiteChatSettings)
		r.Post("/api/sites/{id}/chat-secret", s.rotateChatSecret)
		// API keys for systems (apikeys.go): sessions only, never a key.
		r.Post("/api/api-keys", s.createAPIKey)
		r.Get("/api/api-keys", s.listAPIKeys)
		r.Delete("/api/api-keys/{id}", s.revokeAPIKey)
		// Webhook receivers (webhooks.go): sessions only, like the keys.
		r.Post("/api/webhooks", s.createWebhook)
		r.Get("/api/webhooks", s.listWebhooks)
		r.Delete("/api/webhooks/{id}", s.deleteWebhook)
		r.Get("/api/webhooks/deliveries", s.webhookDeliveries)
		// Customer import (import.go): its body limit is ImportMaxBody.
		r.Post(importPath, s.importCustomers)
		// E-mail mailboxes (mailboxes.go): passwords are write-only.
		r.Get("/api/mailboxes", s.listMailboxes)
		r.Post("/api/mailboxes", s.createMailbox)
		r.Patch("/api/mailboxes/{id}", s.updateMailbox)
		r.Delete("/api/mailboxes/{id}", s.deleteMailbox)
		// Phone connectors, their hotline numbers and agents' phones
		// (phone_admin.go): secrets are write-only, a Zammad URL token is
		// shown on creation and rotation only.
		r.Get("/api/phone/connectors", s.listPhoneConnectors)
		r.Post("/api/phone/connectors", s.createPhoneConnector)
		r.Get("/api/phone/connectors/{id}", s.getPhoneConnector)
		r.Patch("/api/phone/connectors/{id}", s.updatePhoneConnector)
		r.Delete("/api/phone/connectors/{id}", s.deactivatePhoneConnector)
		r.Post("/api/phone/connectors/{id}/rotate-token", s.rotatePhoneToken)
		r.Get("/api/phone/connectors/{id}/numbers", s.listPhoneNumbers)
		r.Put("/api/phone/connectors/{id}/numbers/{number}", s.putPhoneNumber)
		r.Delete("/api/phone/connectors/{id}/numbers/{number}", s.deletePhoneNumber)
		r.Get("/api/phone/connectors/{id}/agents", s.listAgentPhones)
		r.Put("/api/phone/connectors/{id}/agents/{agent}", s.putAgentPhone)
		r.Delete("/api/phone/connectors/{id}/agents/{agent}", s.deleteAgentPhone)
		// Canned responses (email.go): agents read them, admins write them.
		r.Post("/api/canned-responses", s.cannedCreate)
		r.Patch("/api/canned-responses/{id}", s.cannedUpdate)
		r.Delete("/api/canned-responses/{id}", s.cannedDelete)
		// Who sees customers: the tenant's privacy settings, teams, and
		// withdrawing a share (privacy_admin.go); all audited.
		r.Get("/api/settings/privacy", s.privacySettings)
		r.Patch("/api/settings/privacy", s.setPrivacySettings)
		r.Get("/api/teams", s.listTeams)
		r.Post("/api/teams", s.createTeam)
		r.Patch("/api/teams/{id}", s.updateTeam)
		r.Delete("/api/teams/{id}", s.deleteTeam)
		r.Put("/api/teams/{id}/members/{user}", s.putTeamMember)
		r.Delete("/api/teams/{id}/members/{user}", s.deleteTeamMember)
		r.Delete("/api/customers/{id}/shares/{share}", s.unshareCustomer)
	})

	// The OpenAPI document of the JSON API: no data, no login.
	r.Get("/api/openapi.json", s.openAPI)

	// CRM records (crmapi.go): people with a session (agent and above, CSRF
	// on writes) or systems with an API key (a read key only GETs).
	r.Group(func(r chi.Router) {
		r.Use(s.crmAuth(org.RoleAgent))
		r.Post("/api/customers", s.crmHandler(s.createCustomer))
		r.Get("/api/customers/{id}", s.crmHandler(s.getCustomer))
		r.Patch("/api/customers/{id}", s.crmHandler(s.updateCustomerRecord))
		r.Post("/api/customers/{id}/identities", s.crmHandler(s.addIdentity))
		r.Delete("/api/customers/{id}/identities/{identity}", s.crmHandler(s.removeIdentity))
		r.Get("/api/customers/{id}/vehicles", s.crmHandler(s.customerVehicles))
		r.Post("/api/customers/{id}/vehicles", s.crmHandler(s.addCustomerVehicle))
		r.Get("/api/vehicles/{id}", s.crmHandler(s.getVehicle))
		r.Patch("/api/vehicles/{id}", s.crmHandler(s.updateVehicle))
		r.Delete("/api/vehicles/{id}", s.crmHandler(s.deleteVehicle))
		r.Get("/api/customers/{id}/orders", s.crmHandler(s.customerOrders))
		r.Post("/api/customers/{id}/orders", s.crmHandler(s.createOrder))
		r.Get("/api/orders/{id}", s.crmHandler(s.getOrder))
		r.Patch("/api/orders/{id}", s.crmHandler(s.updateOrder))
		r.Get("/api/customers/{id}/deals", s.crmHandler(s.customerDeals))
		r.Post("/api/customers/{id}/deals", s.crmHandler(s.createDeal))
		r.Get("/api/deals/{id}", s.crmHandler(s.getDeal))
		r.Patch("/api/deals/{id}", s.crmHandler(s.updateDeal))
		r.Get("/api/customers/{id}/follow-ups", s.crmHandler(s.customerFollowUps))
		r.Post("/api/customers/{id}/follow-ups", s.crmHandler(s.createFollowUp))
		r.Patch("/api/follow-ups/{id}", s.crmHandler(s.updateFollowUp))
		r.Delete("/api/follow-ups/{id}", s.crmHandler(s.deleteFollowUp))
		// Timelines carry message text: a key needs the timeline scope.
		r.Get("/api/customers/{id}/timeline", s.crmHandler(s.customerTimelineAPI))
	})

	// Systems' idempotent upserts by external id: a write key, or an admin's session.
	r.Group(func(r chi.Router) {
		r.Use(s.crmAuth(org.RoleAdmin))
		r.Put("/api/ext/{system}/customers/{external_id}", s.crmHandler(s.upsertCustomer))
		r.Put("/api/ext/{system}/vehicles/{external_id}", s.crmHandler(s.upsertVehicle))
		r.Put("/api/ext/{system}/orders/{external_id}", s.crmHandler(s.upsertOrder))
		r.Put("/api/ext/{system}/deals/{external_id}", s.crmHandler(s.upsertDeal))
	})
	return r
}
