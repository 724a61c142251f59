package web

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"
)

func TestPagesRender(t *testing.T) {
	tmpl, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	user := &PageUser{ID: "u1", Name: "李娜 <Li Na>", Role: "agent"}
	for _, tc := range []struct {
		page string
		data PageData
		want []string
	}{
		{"login.html", PageData{Error: "Wrong e-mail or password.", Next: "/console", Email: "a@b.c"},
			[]string{`name="email"`, `name="password"`, `value="/console"`, "Wrong e-mail or password."}},
		{"console.html", PageData{User: user, CSRF: "tok123"},
			[]string{`<meta name="csrf-token" content="tok123">`, `name="csrf_token" value="tok123"`, `id="presence"`, `data-testid="conn"`, "李娜 &lt;Li Na&gt;", `src="/static/console.js"`}},
		{"wallboard.html", PageData{User: user, CSRF: "tok123"},
			[]string{`data-testid="agents-available"`, `src="/static/wallboard.js"`}},
		{"demo.html", PageData{SiteKey: "demo-pudong", SiteName: "Huadong Pudong"},
			[]string{`<script src="/chat.js" data-site="demo-pudong" async></script>`, "Huadong Pudong"}},
	} {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, tc.page, tc.data); err != nil {
			t.Errorf("%s: %v", tc.page, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s lacks %q", tc.page, w)
			}
		}
		// The CSP forbids inline scripts and handlers; none may creep in.
		for _, bad := range []string{"<script>", " onclick=", " onload=", " style="} {
			if strings.Contains(buf.String(), bad) {
				t.Errorf("%s contains %q, which the CSP blocks", tc.page, bad)
			}
		}
	}
}

func TestWidgetIsSmall(t *testing.T) {
	b, err := fs.ReadFile(Static(), "chat.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 30<<10 {
		t.Errorf("chat.js is %d bytes, over the 30 KB budget", len(b))
	}
}

// The widget runs on dealers' pages: visitor and agent text is only ever
// set as text, and nothing is evaluated.
func TestWidgetNeverWritesHTML(t *testing.T) {
	b, err := fs.ReadFile(Static(), "chat.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("chat.js uses %s", bad)
		}
	}
}
