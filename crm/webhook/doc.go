// Package webhook delivers crm's outbound webhooks: it claims due rows of
// the webhook_outbox table (written by crm in the transaction of each
// change), POSTs them signed with HMAC-SHA256 to their endpoints, and
// retries with exponential backoff and jitter until a 2xx or a maximum age.
// Workers on many nodes share the table safely. It is crm's delivery side,
// kept apart because it only reads and updates two tables and talks HTTP;
// it imports nothing of ours but internal packages.
package webhook
