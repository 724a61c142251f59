package crm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// TestSetPendingAndReopen: the agent holding an e-mail thread sets it
// pending: the assignment ends (end_reason pending, so no slot is held on
// a rebuild), event 'pending', the state pending; a second call is a
// no-op; another agent, a chat and a thread in wrap-up are refused. The
// customer's next mail reopens it, queued with its owner preferred, and
// ends no wrap-up.
func TestSetPendingAndReopen(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	th := makeEmailThread(t, b, o)

	if _, err := b.store.SetPending(ctx, o.ID, o.Agent2, th.contact); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("SetPending by another agent = %v, want ErrNotHeld", err)
	}
	if _, err := b.store.SetPending(ctx, b.b.ID, o.Agent, th.contact); !errors.Is(err, crm.ErrNotFound) {
		t.Errorf("SetPending in another tenant = %v, want ErrNotFound", err)
	}
	c, err := b.store.SetPending(ctx, o.ID, o.Agent, th.contact)
	if err != nil || c.State != crm.StatePending {
		t.Fatalf("SetPending = %q, %v; want pending", c.State, err)
	}
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND ended_at IS NULL`, th.contact); n != 0 {
		t.Errorf("open assignments = %d, want 0: a pending thread holds no capacity", n)
	}
	if n := b.count(t, `SELECT count(*) FROM assignments WHERE contact_id = $1 AND agent_id = $2 AND end_reason = 'pending'`, th.contact, o.Agent); n != 1 {
		t.Errorf("assignments ended pending = %d, want 1", n)
	}
	if c, err := b.store.SetPending(ctx, o.ID, o.Agent, th.contact); err != nil || c.State != crm.StatePending {
		t.Errorf("SetPending again = %q, %v; want a no-op", c.State, err)
	}
	if n := b.count(t, `SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind = 'pending' AND agent_id = $2`, th.contact, o.Agent); n != 1 {
		t.Errorf("pending events = %d, want 1", n)
	}
	// The owner's assignments no longer count: none is open.
	if as, err := b.store.OpenAssignments(ctx, o.ID); err != nil {
		t.Fatal(err)
	} else {
		for _, a := range as {
			if a.ContactID == th.contact {
				t.Errorf("OpenAssignments lists the pending thread: %+v", a)
			}
		}
	}

	in := mail(o, th.mailbox, 1, "pending-answer@example.cn", "Re: Is my car ready?", "Here is the photo you asked for.")
	in.Email.InReplyTo = "second." + th.contact.String() + "@mail.example.cn"
	res := b.recordEmail(t, in)
	if res.ContactID != th.contact || !res.Reopened || res.State != crm.StateQueued {
		t.Fatalf("customer reply to the pending thread = %+v, want it reopened and queued", res)
	}
	if len(res.Preference.Agents) != 1 || res.Preference.Agents[0] != o.Agent {
		t.Errorf("preference = %+v, want the owner", res.Preference)
	}
	if res.WrapUpEnded != uuid.Nil {
		t.Errorf("WrapUpEnded = %v, want none: a pending thread has no wrap-up", res.WrapUpEnded)
	}
	if _, err := b.store.SetPending(ctx, o.ID, o.Agent, th.contact); !errors.Is(err, crm.ErrNotHeld) {
		t.Errorf("SetPending on a queued thread = %v, want ErrNotHeld", err)
	}

	// A chat waits for nobody.
	ib := inbound(o, "chat-"+uuid.NewString(), "li.ming@example.cn")
	ib.Channel = org.Chat
	chat := b.record(t, ib)
	b.assign(t, o, chat.ContactID, o.Agent)
	if _, err := b.store.SetPending(ctx, o.ID, o.Agent, chat.ContactID); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("SetPending on a chat = %v, want ErrInvalid", err)
	}
}

// TestSendAndSetPendingWithHTML: a formatted reply is sanitised before it
// is stored or queued (no script, image, handler or javascript: link), its
// text part is made from it (list items, the link's address), and
// SetPending puts the thread in pending in the same transaction.
func TestSendAndSetPendingWithHTML(t *testing.T) {
	b := setup(t)
	ctx := ctxT(t)
	o := b.a
	th := makeEmailThread(t, b, o)
	dirty := `<p>Dear <b>Mr Wang</b>,</p><script>alert(1)</script>` +
		`<p>your car is <i>ready</i>:</p><ul><li>oil changed</li><li>brakes checked</li></ul>` +
		`<p onclick="steal()">Book at <a href="https://dealer.example/book" onmouseover="x()">our site</a>` +
		` or <a href="javascript:alert(2)">here</a>.</p><img src="https://tracker.example/p.gif">`
	q, err := b.store.QueueReply(ctx, o.ID, o.Agent, th.contact, crm.Reply{ClientID: "h1", HTML: dirty, SetPending: true})
	if err != nil {
		t.Fatalf("QueueReply = %v", err)
	}
	if !q.Pending {
		t.Errorf("Pending = false, want the thread set pending")
	}
	var html, outHTML, text string
	if err := b.pool.QueryRow(ctx, `SELECT m.html_sanitized, COALESCE(o.html_body, ''), o.text_body
		FROM email_outbox o JOIN email_messages m ON m.id = o.email_message_id WHERE o.id = $1`, q.Outbox.ID).Scan(&html, &outHTML, &text); err != nil {
		t.Fatal(err)
	}
	if html != outHTML {
		t.Errorf("stored HTML %q differs from the queued %q", html, outHTML)
	}
	for _, bad := range []string{"script", "alert", "onclick", "onmouseover", "img", "tracker", "javascript"} {
		if strings.Contains(html, bad) {
			t.Errorf("sanitised HTML %q still has %q", html, bad)
		}
	}
	for _, want := range []string{"<b>Mr Wang</b>", "<i>ready</i>", "<li>oil changed</li>", `href="https://dealer.example/book"`} {
		if !strings.Contains(html, want) {
			t.Errorf("sanitised HTML %q lacks %q", html, want)
		}
	}
	wantText := "Dear Mr Wang,\n\nyour car is ready:\n\n- oil changed\n- brakes checked\n\nBook at our site <https://dealer.example/book> or here.\n"
	if text != wantText {
		t.Errorf("text part = %q, want %q", text, wantText)
	}
	if c, err := b.store.Contact(ctx, o.ID, th.contact); err != nil || c.State != crm.StatePending {
		t.Errorf("state = %q, %v; want pending", c.State, err)
	}
	// The same client id again: the stored reply, still pending.
	again, err := b.store.QueueReply(ctx, o.ID, o.Agent, th.contact, crm.Reply{ClientID: "h1", HTML: dirty, SetPending: true})
	if err != nil || !again.Duplicate || !again.Pending || again.Outbox.ID != q.Outbox.ID {
		t.Errorf("QueueReply again = %+v, %v; want the stored duplicate, pending", again, err)
	}
	// Formatting that leaves nothing to say is refused.
	if _, err := b.store.QueueReply(ctx, o.ID, o.Agent, th.contact, crm.Reply{ClientID: "h2", HTML: `<script>x</script><img src="a">`}); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("QueueReply with empty HTML = %v, want ErrInvalid", err)
	}
	claimed, err := b.store.ClaimEmailOutbox(ctx, 10, 60e9)
	if err != nil || len(claimed) != 1 || claimed[0].HTML != html || claimed[0].Text != wantText {
		t.Errorf("ClaimEmailOutbox = %+v, %v; want the reply with its HTML and text", claimed, err)
	}
}
