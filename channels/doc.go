// Package channels is the channel-neutral middle of every conversation:
// intake makes an inbound item durable through crm before its source is
// acknowledged and announces it to routing; replies and state changes go out
// to whoever watches the contact through the bus. Connectors for each
// channel live in its sub-packages.
//
// It imports crm, org and routing types.
package channels
