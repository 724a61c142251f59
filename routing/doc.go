// Package routing is the pure queue engine: for every waiting contact and
// every agent it decides who is offered what, and when an offer ends. It
// does no I/O and keeps no goroutines; the clock is injected, so tests drive
// it on a fake clock and a crash loses only what its caller did not persist.
// Persistence, leases and the bus live beside it in routing/dispatch and
// routing/lease.
//
// It imports only org (for channel, presence and queue types).
package routing
