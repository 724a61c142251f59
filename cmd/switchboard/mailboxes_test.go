package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-cc/switchboard/internal/dovecottest"
	"github.com/switchboard-cc/switchboard/org"
)

// otherTenantMailbox makes a second tenant with a queue and a mailbox of its
// own (sealed under the app's secret) and returns their ids.
func otherTenantMailbox(t *testing.T, dsn, secret string) (queue, mailbox uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	sealer, err := org.NewSealer([]byte(secret), "mailbox credentials")
	if err != nil {
		t.Fatal(err)
	}
	s := org.NewStore(pool, org.WithSealer(sealer))
	tn, err := s.CreateTenant(ctx, "Mailbox other group", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, org.NewUser{TenantID: tn.ID, Email: "admin@mailbox-other.example", DisplayName: "Other admin",
		Password: "long enough", Role: org.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.CreateQueue(ctx, org.Queue{TenantID: tn.ID, Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	host, port, pw, user := "127.0.0.1", 1, "other-pw", "other"
	m, err := s.CreateMailbox(ctx, tn.ID, u.ID, org.MailboxSettings{Address: &[]string{"service@other.example"}[0], QueueID: &q.ID,
		IMAPHost: &host, IMAPPort: &port, IMAPSecurity: &[]string{"none"}[0], IMAPUsername: &user, IMAPPassword: &pw,
		Active: &[]bool{false}[0]})
	if err != nil {
		t.Fatal(err)
	}
	return q.ID, m.ID
}

// TestMailboxesOverHTTP: an admin configures a mailbox on a real Dovecot
// over the API (passwords never come back); mail delivered there becomes
// an e-mail contact offered on an agent's socket. Agents and supervisors
// are refused, bad settings are 400, another tenant's mailbox is 404 to
// PATCH and DELETE (and stays), another tenant's queue is refused, and a
// mailbox with mail cannot be deleted (409).
func TestMailboxesOverHTTP(t *testing.T) {
	dove := dovecottest.New(t, dovecottest.Options{})
	a := startApp(t, map[string]string{"SWITCHBOARD_EMAIL_RELOAD_INTERVAL": "200ms"})
	admin, adminCSRF := a.login(t, "admin@huadong.example")
	agent, agentCSRF := a.login(t, "lina@huadong.example")
	sup, supCSRF := a.login(t, "supervisor@huadong.example")
	api := a.url + "/api"
	otherQueue, otherMailbox := otherTenantMailbox(t, a.dsn, "test-secret-0123456789")

	code, body := call(t, admin, "GET", api+"/queues", "", "")
	want(t, "admin lists queues", code, body, 200, "Enquiries")
	var queues []map[string]any
	json.Unmarshal([]byte(body), &queues)
	var enquiries string
	for _, q := range queues {
		if q["name"] == "Enquiries" {
			enquiries, _ = q["id"].(string)
		}
	}
	if enquiries == "" {
		t.Fatalf("no Enquiries queue in %s", body)
	}
	host, port, _ := net.SplitHostPort(dove.Addr)
	const imapPassword = "dovecot-test-pw"
	create := fmt.Sprintf(`{"address":"Enquiries <Enquiries@Huadong.example>","display_name":"Huadong enquiries","queue_id":%q,
		"imap_host":%q,"imap_port":%s,"imap_security":"none","imap_username":%q,"imap_password":%q,
		"smtp_host":"127.0.0.1","smtp_port":2525,"smtp_security":"none","smtp_username":"enquiries","smtp_password":"smtp-secret-pw"}`,
		enquiries, host, port, dove.User, imapPassword)

	code, body = post(t, agent, api+"/mailboxes", agentCSRF, create)
	want(t, "agent creates a mailbox", code, body, 403, `"forbidden"`)
	code, body = post(t, sup, api+"/mailboxes", supCSRF, create)
	want(t, "supervisor creates a mailbox", code, body, 403, `"forbidden"`)
	code, body = call(t, sup, "GET", api+"/mailboxes", "", "")
	want(t, "supervisor lists mailboxes", code, body, 403, `"forbidden"`)
	code, body = post(t, admin, api+"/mailboxes", "", create)
	want(t, "mailbox without CSRF", code, body, 403, `"csrf"`)
	code, body = post(t, admin, api+"/mailboxes", adminCSRF, strings.Replace(create, `"imap_host":"127.0.0.1"`, `"imap_host":"imap.example.cn"`, 1))
	want(t, "plain IMAP to a remote host", code, body, 400, "loopback")
	code, body = post(t, admin, api+"/mailboxes", adminCSRF, strings.Replace(create, enquiries, otherQueue.String(), 1))
	want(t, "another tenant's queue", code, body, 400, "no such queue")
	code, body = post(t, admin, api+"/mailboxes", adminCSRF, create[:len(create)-1]+`,"uid_validity":5}`)
	want(t, "an unknown field", code, body, 400, "bad_json")

	code, body = post(t, admin, api+"/mailboxes", adminCSRF, create)
	want(t, "admin creates a mailbox", code, body, 201, `"address":"enquiries@huadong.example"`)
	id, _ := field(t, body, "id").(string)
	for _, secret := range []string{imapPassword, "smtp-secret-pw", "password_enc"} {
		if strings.Contains(body, secret) {
			t.Errorf("the created mailbox shows %q: %s", secret, body)
		}
	}
	code, body = call(t, admin, "GET", api+"/mailboxes", "", "")
	want(t, "admin lists mailboxes", code, body, 200, `"has_smtp_password":true`)
	if strings.Contains(body, imapPassword) || strings.Contains(body, "smtp-secret-pw") {
		t.Errorf("the listing shows a password: %s", body)
	}

	// Another tenant's mailbox: 404 for PATCH and DELETE, and it stays.
	code, body = call(t, admin, "PATCH", api+"/mailboxes/"+otherMailbox.String(), adminCSRF, `{"active":true}`)
	want(t, "patch another tenant's mailbox", code, body, 404, "not_found")
	code, body = call(t, admin, "DELETE", api+"/mailboxes/"+otherMailbox.String(), adminCSRF, "")
	want(t, "delete another tenant's mailbox", code, body, 404, "not_found")
	var n int
	pool, _ := pgxpool.New(context.Background(), a.dsn)
	defer pool.Close()
	pool.QueryRow(context.Background(), `SELECT count(*) FROM mailboxes WHERE id = $1 AND NOT active`, otherMailbox).Scan(&n)
	if n != 1 {
		t.Error("another tenant's mailbox changed or went after refused calls")
	}
	code, body = call(t, agent, "PATCH", api+"/mailboxes/"+id, agentCSRF, `{"active":false}`)
	want(t, "agent patches a mailbox", code, body, 403, `"forbidden"`)

	// Mail delivered to the mailbox becomes a contact offered to an agent.
	ws, _, err := a.dial(t, "/ws/agent", agent.Jar, a.url)
	if err != nil {
		t.Fatalf("agent socket: %v", err)
	}
	ws.expect("snapshot", nil)
	ws.send(map[string]any{"type": "presence", "id": "p1", "state": "available"})
	ws.expect("ack", func(f map[string]any) bool { return f["ref"] == "p1" })
	dove.Deliver(t, "INBOX", []byte("From: Wang Wei <wang.wei@example.cn>\r\nTo: enquiries@huadong.example\r\n"+
		"Subject: Is my car ready?\r\nMessage-ID: <synthetic-e2e-1@example.cn>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0800\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nSynthetic test mail: is my car ready?\r\n"))
	offer := ws.expect("offer", nil)
	if got := path(offer, "contact", "channel"); got != "email" {
		t.Errorf("offer channel = %v, want email (offer %v)", got, offer)
	}

	// A mailbox with mail is kept (409); deactivating it is the way.
	code, body = call(t, admin, "DELETE", api+"/mailboxes/"+id, adminCSRF, "")
	want(t, "delete a mailbox with mail", code, body, 409, "in_use")
	code, body = call(t, admin, "PATCH", api+"/mailboxes/"+id, adminCSRF, `{"active":false,"imap_password":"changed-pw"}`)
	want(t, "admin deactivates the mailbox", code, body, 200, `"active":false`)
	if strings.Contains(body, "changed-pw") {
		t.Errorf("the PATCH answer shows the new password: %s", body)
	}
	time.Sleep(500 * time.Millisecond)
	for _, secret := range []string{imapPassword, "smtp-secret-pw", "changed-pw"} {
		if strings.Contains(a.logs.String(), secret) {
			t.Errorf("the server log carries a mailbox password (%q)", secret)
		}
	}
}
