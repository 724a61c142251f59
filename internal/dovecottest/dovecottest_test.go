package dovecottest

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestServer: a message delivered is there, unseen; recreating a folder
// changes its UIDVALIDITY; restricted capabilities hide IDLE.
func TestServer(t *testing.T) {
	s := New(t, Options{})
	uids := s.Deliver(t, "Support", []byte("From: a@example.com\nSubject: synthetic\n\nhello\n"))
	if len(uids) != 1 || uids[0] != 1 {
		t.Fatalf("Deliver = %v, want [1]", uids)
	}
	if s.Seen(t, "Support", 1) {
		t.Error("a delivered message is \\Seen")
	}
	v := s.UIDValidity(t, "Support")
	s.Recreate(t, "Support")
	if w := s.UIDValidity(t, "Support"); w == v {
		t.Errorf("UIDVALIDITY after Recreate = %d, unchanged", w)
	}
	c := s.Client(t)
	defer c.Close()
	if !c.Caps().Has(imap.CapIdle) {
		t.Errorf("default server lacks IDLE: %v", c.Caps())
	}

	plain := New(t, Options{Capabilities: "IMAP4rev1 LITERAL+"})
	pc := plain.Client(t)
	defer pc.Close()
	caps, err := pc.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range []imap.Cap{imap.CapIdle, imap.CapESearch, imap.CapCondStore} {
		if caps.Has(cp) {
			t.Errorf("restricted server advertises %s: %s", cp, fmt.Sprint(caps))
		}
	}
}
