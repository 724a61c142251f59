// Package crm is the one customer record of a dealer group and the record
// of every conversation with it: customers and their identities, vehicles,
// service orders and deals, contacts with their messages, append-only
// events and assignments; it resolves who is writing, makes inbound items
// durable in one transaction, and reads the screen-pop and the timeline.
//
// Every method is scoped by the caller's tenant: another tenant's id behaves
// exactly like a missing one. It imports only org.
package crm
