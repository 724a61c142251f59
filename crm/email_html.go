package crm

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// replyPolicy is what an agent's formatted reply may keep: paragraphs and
// line breaks, bold, italic, underline, lists, quotes and links (http,
// https, mailto). Nothing else reaches the customer or the thread: no
// script, style, images, classes or inline styles, so a reply pasted from
// a web page cannot carry a tracker or active content, and the stored
// copy is what was sent.
var replyPolicy = func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "div", "b", "strong", "i", "em", "u", "ul", "ol", "li", "blockquote")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}()

// SanitizeReplyHTML returns an agent's formatted reply with only what
// replyPolicy allows; "" when nothing but white space is left.
func SanitizeReplyHTML(s string) string {
	out := strings.TrimSpace(replyPolicy.Sanitize(s))
	if strings.TrimSpace(ReplyHTMLText(out)) == "" {
		return ""
	}
	return out
}

var manyBlankLines = regexp.MustCompile(`\n{3,}`)

// ReplyHTMLText is the text/plain alternative of a sanitised reply: blocks
// become lines with a blank line between paragraphs, list items "- " or
// "1. ", quotes "> ", and a link its text followed by its address in angle
// brackets (when the two differ), so a text-only reader loses no link.
func ReplyHTMLText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	type list struct {
		ordered bool
		n       int
	}
	var lists []list
	quote := 0
	var href string
	var linkText strings.Builder
	inLink := false
	lineStart := true
	newline := func() {
		b.WriteString("\n")
		lineStart = true
	}
	write := func(t string) {
		if t == "" {
			return
		}
		if inLink {
			linkText.WriteString(t)
		}
		if lineStart {
			if quote > 0 {
				b.WriteString(strings.Repeat(">", quote) + " ")
			}
			lineStart = false
		}
		b.WriteString(t)
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			out := manyBlankLines.ReplaceAllString(b.String(), "\n\n")
			return strings.TrimSpace(out) + "\n"
		case html.TextToken:
			raw := string(z.Text()) // Text may be read once per token
			t := strings.Join(strings.Fields(raw), " ")
			if t != "" && len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\n') && !lineStart {
				t = " " + t
			}
			if t != "" && len(raw) > 0 && (raw[len(raw)-1] == ' ' || raw[len(raw)-1] == '\n') {
				t += " "
			}
			write(t)
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			start := tt != html.EndTagToken
			switch tag {
			case "br":
				newline()
			case "p", "div", "blockquote":
				if !lineStart {
					newline()
				}
				if tag == "p" && !start {
					newline()
				}
				if tag == "blockquote" {
					if start {
						quote++
					} else if quote > 0 {
						quote--
					}
				}
			case "ul", "ol":
				if !lineStart {
					newline()
				}
				if start {
					lists = append(lists, list{ordered: tag == "ol"})
				} else if len(lists) > 0 {
					lists = lists[:len(lists)-1]
					if len(lists) == 0 {
						newline()
					}
				}
			case "li":
				if !start {
					if !lineStart {
						newline()
					}
					break
				}
				if !lineStart {
					newline()
				}
				marker := "- "
				if n := len(lists); n > 0 {
					if lists[n-1].ordered {
						lists[n-1].n++
						marker = strconv.Itoa(lists[n-1].n) + ". "
					}
					marker = strings.Repeat("  ", n-1) + marker
				}
				write(marker)
			case "a":
				if start {
					href, inLink = "", true
					linkText.Reset()
					for hasAttr {
						var k, v []byte
						k, v, hasAttr = z.TagAttr()
						if string(k) == "href" {
							href = string(v)
						}
					}
				} else if inLink {
					inLink = false
					shown := strings.TrimSpace(linkText.String())
					target := strings.TrimPrefix(href, "mailto:")
					if href != "" && shown != href && shown != target {
						write(" <" + href + ">")
					}
				}
			}
		}
	}
}
