// Package chat is the web chat connector: the visitor's websocket behind the
// embeddable widget. A site's public key ties the visitor to a tenant and
// site; signed visitor tokens let a reload or a dropped connection resume
// the same chat from the last line the widget saw.
//
// It imports channels, crm and org types and the bus plumbing.
package chat
