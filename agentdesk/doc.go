// Package agentdesk is what people see and touch: the HTTP server with its
// login, pages and JSON API, the agent console and supervisor wallboard
// websockets, and the Notifier that turns routing's decisions into frames.
//
// It imports crm, routing (and routing/dispatch for its command and notifier
// types), org and channels types, and the web assets in agentdesk/web.
package agentdesk
