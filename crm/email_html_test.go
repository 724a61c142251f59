package crm_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-cc/switchboard/crm"
)

func TestReplyHTMLText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<p>Hello</p><p>World</p>`, "Hello\n\nWorld\n"},
		{`line one<br>line two`, "line one\nline two\n"},
		{`<div>你好</div><div><b>明天</b>见</div>`, "你好\n明天见\n"},
		{`<ol><li>first</li><li>second</li></ol>after`, "1. first\n2. second\n\nafter\n"},
		{`<ul><li>a<ul><li>b</li></ul></li></ul>`, "- a\n  - b\n"},
		{`<blockquote>quoted<br>twice</blockquote>mine`, "> quoted\n> twice\nmine\n"},
		{`<a href="https://x.example/">https://x.example/</a>`, "https://x.example/\n"},
		{`<a href="mailto:a@x.example">a@x.example</a> or <a href="https://x.example/p">page</a>`, "a@x.example or page <https://x.example/p>\n"},
		{`5 &lt; 6 &amp;&amp; <i>true</i>`, "5 < 6 && true\n"},
	} {
		if got := crm.ReplyHTMLText(c.in); got != c.want {
			t.Errorf("ReplyHTMLText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzReplyHTML: whatever an editor (or a hostile client) posts, the
// sanitiser and the text maker end, keep valid UTF-8 valid, and let no
// script or handler through.
func FuzzReplyHTML(f *testing.F) {
	for _, s := range []string{
		`<p>Hi <b>there</b></p>`, `<ul><li>a</li><li>b`, `<a href="javascript:x()">x</a>`,
		`<scr<script>ipt>alert(1)</script>`, `<p onclick="x">`, `<<<>>>&&&;`, "<ol><li>\xff</li></ol>",
		`<blockquote><blockquote><blockquote>deep</blockquote>`, `<a href="https://a.example">`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := crm.SanitizeReplyHTML(s)
		low := strings.ToLower(out)
		if strings.Contains(low, "<script") || strings.Contains(low, "onclick=") || strings.Contains(low, "javascript:") {
			t.Errorf("SanitizeReplyHTML(%q) = %q: active content kept", s, out)
		}
		text := crm.ReplyHTMLText(out)
		if utf8.ValidString(s) && !utf8.ValidString(text) {
			t.Errorf("ReplyHTMLText(%q) = %q: not UTF-8", out, text)
		}
	})
}
