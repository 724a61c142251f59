package email_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/channels/email"
	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// TestFormattedReplyMIME: an agent's formatted reply, sanitised as crm
// stores it, goes out as multipart/alternative, text/plain first (the
// text made from the HTML: list items, the link's address) and then
// text/html, both UTF-8; nothing the sanitiser removed reaches the wire.
func TestFormattedReplyMIME(t *testing.T) {
	html := crm.SanitizeReplyHTML(`<p>您好 <b>王先生</b>,</p><ol><li>oil</li><li><i>brakes</i></li></ol>` +
		`<p>Book <a href="https://dealer.example/book">here</a>.</p><script>alert(1)</script><img src="https://t.example/p.gif">`)
	e := crm.OutboundEmail{ID: uuid.New(), Kind: crm.OutboxReply, To: []string{"wang.wei@example.cn"}, Subject: "Re: service",
		Text: crm.ReplyHTMLText(html), HTML: html, MessageID: "r1@dealer.example", InReplyTo: "c1@example.cn", References: []string{"c1@example.cn"}}
	raw, err := email.BuildMessage(e, org.Mailbox{Address: "service@dealer.example"}, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("script")) || bytes.Contains(raw, []byte("t.example")) {
		t.Errorf("the message carries what the sanitiser removes:\n%s", raw)
	}
	m, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// The shape as a tree of content types, and each leaf's body.
	var shape []string
	bodies := map[string]string{}
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		ct, params, _ := e.Header.ContentType()
		shape = append(shape, strings.Repeat("  ", depth)+ct+charset(params))
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				walk(p, depth+1)
			}
			return
		}
		b, _ := io.ReadAll(e.Body)
		bodies[ct] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	walk(m, 0)
	want := []string{"multipart/mixed", "  multipart/alternative", "    text/plain; utf-8", "    text/html; utf-8"}
	if diff := cmp.Diff(want, shape); diff != "" {
		t.Errorf("MIME shape (-want +got):\n%s", diff)
	}
	if got, want := bodies["text/plain"], "您好 王先生,\n\n1. oil\n2. brakes\n\nBook here <https://dealer.example/book>.\n"; got != want {
		t.Errorf("text/plain = %q, want %q", got, want)
	}
	if got := bodies["text/html"]; !strings.Contains(got, "<b>王先生</b>") || !strings.Contains(got, `<a href="https://dealer.example/book"`) ||
		!strings.Contains(got, "<li><i>brakes</i></li>") {
		t.Errorf("text/html = %q, want the formatting kept", got)
	}
}

func charset(p map[string]string) string {
	if c := p["charset"]; c != "" {
		return "; " + strings.ToLower(c)
	}
	return ""
}
