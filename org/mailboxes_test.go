package org_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/internal/pgtest"
	"github.com/switchboard-cc/switchboard/org"
)

func newSealer(t *testing.T, secret string) *org.Sealer {
	t.Helper()
	se, err := org.NewSealer([]byte(secret), "mailbox credentials")
	if err != nil {
		t.Fatal(err)
	}
	return se
}

func mailboxSettings(queue uuid.UUID, addr string) org.MailboxSettings {
	return org.MailboxSettings{Address: ptr(addr), QueueID: ptr(queue), IMAPHost: ptr("127.0.0.1"), IMAPPort: ptr(1143),
		IMAPSecurity: ptr(org.SecurityNone), IMAPUsername: ptr("service"), IMAPPassword: ptr("s3cret imap pw"),
		SMTPHost: ptr("smtp.example.cn"), SMTPUsername: ptr("service"), SMTPPassword: ptr("s3cret smtp pw")}
}

func TestSealer(t *testing.T) {
	se := newSealer(t, "0123456789abcdef0123")
	sealed := se.Seal([]byte("pw"), "ctx-a")
	if got, err := se.Open(sealed, "ctx-a"); err != nil || string(got) != "pw" {
		t.Fatalf("Open(Seal(pw)) = %q, %v; want pw", got, err)
	}
	if _, err := se.Open(sealed, "ctx-b"); err == nil {
		t.Error("Open with another context succeeded; a sealed value must be bound to its row")
	}
	if _, err := newSealer(t, "another secret of 20b").Open(sealed, "ctx-a"); err == nil {
		t.Error("Open with another secret succeeded")
	}
	if bytes.Equal(se.Seal([]byte("pw"), "ctx-a"), sealed) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if _, err := org.NewSealer([]byte("short"), "x"); !errors.Is(err, org.ErrInvalid) {
		t.Errorf("NewSealer(5-byte secret) = %v, want ErrInvalid", err)
	}
}

func TestNormalizeMailboxAddress(t *testing.T) {
	for in, want := range map[string]string{
		"Sales@Example.CN":              "sales@example.cn",
		" Service <Service@Dealer.cn> ": "service@dealer.cn",
		`"售后服务" <SERVICE@dealer.cn>`:    "service@dealer.cn",
	} {
		if got, err := org.NormalizeMailboxAddress(in); err != nil || got != want {
			t.Errorf("NormalizeMailboxAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "sales", "sales@", "a b@c"} {
		if got, err := org.NormalizeMailboxAddress(in); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("NormalizeMailboxAddress(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

func TestMailboxes(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := org.NewStore(pool, org.WithSealer(newSealer(t, "0123456789abcdef0123")))
	a, b := setupOn(t, s, "a"), setupOn(t, s, "b")
	ctx := context.Background()
	qa, err := s.CreateQueue(ctx, org.Queue{TenantID: a.tenant.ID, Name: "service"})
	if err != nil {
		t.Fatal(err)
	}
	qb, err := s.CreateQueue(ctx, org.Queue{TenantID: b.tenant.ID, Name: "service"})
	if err != nil {
		t.Fatal(err)
	}

	m, err := s.CreateMailbox(ctx, a.tenant.ID, a.agent.ID, mailboxSettings(qa.ID, "Service <Service@Dealer.CN>"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Address != "service@dealer.cn" || m.Folder != "INBOX" || !m.Active || m.IMAPPassword != "" || !m.HasSMTPPassword {
		t.Errorf("CreateMailbox = %+v; want normalised address, INBOX, active, no password returned, HasSMTPPassword", m)
	}
	// The password is stored sealed, not in the clear.
	var enc []byte
	if err := pool.QueryRow(ctx, `SELECT imap_password_enc FROM mailboxes WHERE id = $1`, m.ID).Scan(&enc); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte("s3cret")) {
		t.Error("imap_password_enc holds the password in the clear")
	}

	// Listing carries no passwords; the connector's reads open them.
	list, err := s.Mailboxes(ctx, a.tenant.ID)
	if err != nil || len(list) != 1 || list[0].IMAPPassword != "" || list[0].SMTPPassword != "" {
		t.Fatalf("Mailboxes = %+v, %v; want one mailbox without passwords", list, err)
	}
	active, skipped, err := s.AllActiveMailboxes(ctx)
	if err != nil || len(active) != 1 || len(skipped) != 0 || active[0].IMAPPassword != "s3cret imap pw" || active[0].SMTPPassword != "s3cret smtp pw" {
		t.Fatalf("AllActiveMailboxes = %+v, %v, %v; want the mailbox with its passwords opened", active, skipped, err)
	}
	byAddr, err := s.MailboxByAddress(ctx, a.tenant.ID, "SERVICE@dealer.cn")
	if err != nil || byAddr.ID != m.ID || byAddr.SMTPPassword != "s3cret smtp pw" {
		t.Errorf("MailboxByAddress = %+v, %v; want the mailbox with its SMTP password", byAddr, err)
	}
	if _, err := s.MailboxByAddress(ctx, b.tenant.ID, "service@dealer.cn"); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("MailboxByAddress(other tenant) = %v, want ErrNotFound", err)
	}

	// Refusals: each writes nothing.
	for name, in := range map[string]org.MailboxSettings{
		"same address":           mailboxSettings(qa.ID, "service@dealer.cn"),
		"another tenant's queue": mailboxSettings(qb.ID, "x@dealer.cn"),
		"plain text to remote host": func() org.MailboxSettings {
			in := mailboxSettings(qa.ID, "y@dealer.cn")
			in.IMAPHost = ptr("imap.example.cn")
			return in
		}(),
		"no password": func() org.MailboxSettings {
			in := mailboxSettings(qa.ID, "z@dealer.cn")
			in.IMAPPassword = nil
			return in
		}(),
		"bad security": func() org.MailboxSettings {
			in := mailboxSettings(qa.ID, "w@dealer.cn")
			in.IMAPSecurity = ptr("ssl")
			return in
		}(),
		"bad port": func() org.MailboxSettings {
			in := mailboxSettings(qa.ID, "v@dealer.cn")
			in.IMAPPort = ptr(0)
			return in
		}(),
		"not an address": mailboxSettings(qa.ID, "service"),
	} {
		if _, err := s.CreateMailbox(ctx, a.tenant.ID, a.agent.ID, in); !errors.Is(err, org.ErrInvalid) {
			t.Errorf("CreateMailbox(%s) = %v, want ErrInvalid", name, err)
		}
	}
	if list, _ := s.Mailboxes(ctx, a.tenant.ID); len(list) != 1 {
		t.Errorf("after refusals tenant a has %d mailboxes, want 1", len(list))
	}

	// Another tenant's id is not found, for every write.
	if _, err := s.UpdateMailbox(ctx, b.tenant.ID, m.ID, b.agent.ID, org.MailboxSettings{Active: ptr(false)}); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("UpdateMailbox(other tenant) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteMailbox(ctx, b.tenant.ID, m.ID, b.agent.ID); !errors.Is(err, org.ErrNotFound) {
		t.Errorf("DeleteMailbox(other tenant) = %v, want ErrNotFound", err)
	}

	// The checkpoint: a UIDVALIDITY change starts it over once; a new folder too.
	if _, err := pool.Exec(ctx, `UPDATE mailboxes SET uid_validity = 7, last_uid = 40 WHERE id = $1`, m.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ResetMailboxCheckpoint(ctx, a.tenant.ID, m.ID, 7, 9); !ok || err != nil {
		t.Fatalf("ResetMailboxCheckpoint(7→9) = %v, %v; want true", ok, err)
	}
	if ok, _ := s.ResetMailboxCheckpoint(ctx, a.tenant.ID, m.ID, 7, 11); ok {
		t.Error("ResetMailboxCheckpoint from a validity no longer stored succeeded")
	}
	if v, l, err := s.MailboxCheckpoint(ctx, a.tenant.ID, m.ID); v != 9 || l != 0 || err != nil {
		t.Errorf("MailboxCheckpoint = %d, %d, %v; want 9, 0", v, l, err)
	}
	pool.Exec(ctx, `UPDATE mailboxes SET last_uid = 12 WHERE id = $1`, m.ID)
	up, err := s.UpdateMailbox(ctx, a.tenant.ID, m.ID, a.agent.ID, org.MailboxSettings{DisplayName: ptr("Service")})
	if err != nil || up.LastUID != 12 || up.DisplayName != "Service" {
		t.Errorf("UpdateMailbox(display name) = %+v, %v; want the checkpoint kept", up, err)
	}
	up, err = s.UpdateMailbox(ctx, a.tenant.ID, m.ID, a.agent.ID, org.MailboxSettings{Folder: ptr("Support"), IMAPPassword: ptr("new pw")})
	if err != nil || up.UIDValidity != 0 || up.LastUID != 0 || up.Folder != "Support" {
		t.Errorf("UpdateMailbox(folder) = %+v, %v; want the checkpoint reset", up, err)
	}
	if got, err := s.MailboxWithCredentials(ctx, a.tenant.ID, m.ID); err != nil || got.IMAPPassword != "new pw" || got.SMTPPassword != "s3cret smtp pw" {
		t.Errorf("after a new IMAP password: %q / %q, %v; want the new one and the SMTP one kept", got.IMAPPassword, got.SMTPPassword, err)
	}

	// Leases: one holder at a time; a released or expired lease is taken over.
	if ok, err := s.ClaimMailbox(ctx, a.tenant.ID, m.ID, "node-1", time.Minute); !ok || err != nil {
		t.Fatalf("ClaimMailbox(node-1) = %v, %v", ok, err)
	}
	if ok, _ := s.ClaimMailbox(ctx, a.tenant.ID, m.ID, "node-2", time.Minute); ok {
		t.Error("node-2 claimed a mailbox node-1 holds")
	}
	if ok, _ := s.ClaimMailbox(ctx, a.tenant.ID, m.ID, "node-1", time.Minute); !ok {
		t.Error("node-1 could not renew its own lease")
	}
	s.ReleaseMailbox(ctx, a.tenant.ID, m.ID, "node-1")
	if ok, _ := s.ClaimMailbox(ctx, a.tenant.ID, m.ID, "node-2", time.Minute); !ok {
		t.Error("node-2 could not claim a released mailbox")
	}

	// A password sealed under another secret (SWITCHBOARD_SECRET changed)
	// skips that mailbox instead of failing them all.
	in := mailboxSettings(qb.ID, "sales@dealer.cn")
	in.SMTPPassword = nil
	m2, err := s.CreateMailbox(ctx, b.tenant.ID, b.agent.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	other := org.NewStore(pool, org.WithSealer(newSealer(t, "a different secret!!")))
	pool.Exec(ctx, `UPDATE mailboxes SET imap_password_enc = $2 WHERE id = $1`, m2.ID,
		newSealer(t, "a different secret!!").Seal([]byte("x"), org.MailboxSealContext(b.tenant.ID, m2.ID, "imap")))
	active, skipped, err = other.AllActiveMailboxes(ctx)
	if err != nil || len(skipped) != 1 || skipped[0] != m.ID {
		t.Errorf("AllActiveMailboxes under another secret: skipped %v, %v; want mailbox a (%v) skipped", skipped, err, m.ID)
	}
	// Copying one mailbox's sealed password onto another does not open.
	pool.Exec(ctx, `UPDATE mailboxes SET imap_password_enc = (SELECT imap_password_enc FROM mailboxes WHERE id = $2) WHERE id = $1`, m.ID, m2.ID)
	if _, err := other.MailboxWithCredentials(ctx, a.tenant.ID, m.ID); err == nil {
		t.Error("a sealed password copied from another tenant's mailbox opened")
	}

	// Delete: a mailbox without mail goes; audit says who.
	if err := s.DeleteMailbox(ctx, b.tenant.ID, m2.ID, b.agent.ID); err != nil {
		t.Errorf("DeleteMailbox = %v", err)
	}
	log, err := s.AuditLog(ctx, a.tenant.ID, 0, 10)
	if err != nil || len(log) != 3 || log[0].Action != "mailbox.update" {
		t.Errorf("audit log = %+v, %v; want create and two updates", log, err)
	}
}
