package email

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// policy is how customer HTML is cleaned before an agent sees it: the
// user-generated-content policy (no script, style, event handlers, forms or
// frames), links that open in a new tab without a referrer or the opener and
// carry no search-engine weight, and images only from the message itself
// (cid:). Remote images are tracking pixels as often as not: loading one
// tells the sender that, when and from where an agent read the mail, so
// their src becomes about:blank and the console shows "image blocked".
var policy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("mailto", "http", "https", "tel", "cid")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.RewriteSrc(func(u *url.URL) {
		if u.Scheme != "cid" {
			*u = url.URL{Scheme: "about", Opaque: "blank"}
		}
	})
	return p
}()

// Sanitize returns s safe to show in the console (see policy).
func Sanitize(s string) string { return policy.Sanitize(s) }

// blockTags end a line when HTML becomes text.
var blockTags = map[string]bool{"p": true, "div": true, "br": true, "li": true, "tr": true, "h1": true, "h2": true,
	"h3": true, "h4": true, "h5": true, "h6": true, "table": true, "blockquote": true, "pre": true, "hr": true}

var blankLines = regexp.MustCompile(`\n{3,}`)

// HTMLText is the text of an HTML body, for mail that has no text part:
// blocks become lines, script and style are skipped, quoted blocks
// (blockquote, Gmail's gmail_quote) become ">" lines so Fold finds them.
func HTMLText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip, quote := 0, 0
	lineStart := true
	write := func(t string) {
		for i, line := range strings.Split(t, "\n") {
			if i > 0 {
				b.WriteString("\n")
				lineStart = true
			}
			if line == "" {
				continue
			}
			if lineStart && quote > 0 {
				b.WriteString(strings.Repeat(">", quote) + " ")
			}
			b.WriteString(line)
			lineStart = false
		}
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			lines := strings.Split(b.String(), "\n")
			for i, l := range lines {
				lines[i] = strings.TrimRight(l, " ")
			}
			out := blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
			return cleanText(strings.TrimSpace(out))
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case tag == "script" || tag == "style" || tag == "head" || tag == "title":
				skip++
			case tag == "blockquote":
				quote++
			}
			if blockTags[tag] && !lineStart {
				write("\n")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case (tag == "script" || tag == "style" || tag == "head" || tag == "title") && skip > 0:
				skip--
			case tag == "blockquote" && quote > 0:
				quote--
			}
			if blockTags[tag] && !lineStart {
				write("\n")
			}
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := strings.Join(strings.Fields(strings.ReplaceAll(string(z.Text()), "\u00a0", " ")), " ")
			if t != "" {
				write(t)
				if !lineStart {
					b.WriteString(" ")
				}
			}
		}
	}
}
