// Package ami is the Asterisk connector of the voice channel: a client of
// the Asterisk Manager Interface (AMI) that logs in, keeps the connection
// alive and reconnects, follows calls from AMI events and reports them as
// phone.Events to a Sink, and in control mode moves a waiting caller to the
// agent's extension with Redirect. It may import channels/phone only.
package ami
