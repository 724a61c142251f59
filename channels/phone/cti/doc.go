// Package cti is the telephony's HTTP side of the phone channel: the
// generic CTI webhook that any PBX script can call (signed with
// HMAC-SHA256), the signed connect and cancel commands sent back to the PBX
// in control mode, and the Zammad-compatible observe-mode endpoint, so a
// PBX already set up for Zammad's "CTI (generic API)" can report to
// Switchboard unchanged. Each turns what arrives into phone.Events for the
// Hotline and answers the telephony only after the Hotline has stored them.
// The wire formats and their mapping are documented in docs/phone.md.
//
// It imports channels/phone.
package cti
