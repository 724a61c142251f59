// Package netguard keeps outbound requests that a tenant chooses the
// address of (webhook receivers) away from the server's own network: it
// refuses loopback, private (RFC 1918, RFC 4193), link-local, CGNAT
// (RFC 6598), multicast, unspecified and reserved addresses, both when a
// URL is registered and, through a net.Dialer Control hook, at the address
// actually dialled, so DNS rebinding cannot slip past the first check. It
// is plumbing and imports nothing of ours.
package netguard
