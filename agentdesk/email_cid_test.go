package agentdesk

import (
	"testing"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
)

func TestInlineImages(t *testing.T) {
	contact := uuid.MustParse("0190f000-0000-7000-8000-000000000001")
	logo := uuid.MustParse("0190f000-0000-7000-8000-0000000000aa")
	sig := uuid.MustParse("0190f000-0000-7000-8000-0000000000bb")
	atts := []crm.EmailFileInfo{
		{ID: logo, Name: "logo.png", ContentType: "image/png", ContentID: "logo@customer.example", Inline: true},
		{ID: sig, Name: "sig.png", ContentType: "image/png", ContentID: "sig@customer.example", Rejected: "too large"},
	}
	route := "/api/contacts/" + contact.String() + "/email/attachments/" + logo.String()
	for _, c := range []struct{ html, want string }{
		{`<p>Hi</p><img src="cid:logo@customer.example" alt="logo">`, `<p>Hi</p><img src="` + route + `" alt="logo">`},
		{`<img src="CID:Logo%40customer.example">`, `<img src="` + route + `">`},                             // case, RFC 2392 URL-encoding
		{`<img src="cid:sig@customer.example">`, `<img src="about:blank">`},                                  // a refused part
		{`<img src="cid:other@customer.example">`, `<img src="about:blank">`},                                // not this e-mail's
		{`<img src="cid:&#34;&gt;&lt;script&gt;">`, `<img src="about:blank">`},                               // escaped markup stays out
		{`<p>cid:logo@customer.example is plain text</p>`, `<p>cid:logo@customer.example is plain text</p>`}, // not a src
		{``, ``},
	} {
		if got := inlineImages(contact, crm.EmailItem{HTML: c.html, Attachments: atts}); got != c.want {
			t.Errorf("inlineImages(%q) = %q, want %q", c.html, got, c.want)
		}
	}
}
