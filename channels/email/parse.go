package email

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// go-message decodes charsets through one package-level hook, which its
// charset package fills with golang.org/x/text's IANA index. The index maps
// the labels below to the strict historical sets, but Chinese and Japanese
// mail clients write the supersets under the old names: Foxmail, QQ Mail and
// Outlook on Chinese Windows label GBK (and GB18030) text "gb2312", and
// Windows writes CP932 as "shift_jis". Decoding with the superset shows
// every character the sender typed instead of U+FFFD. This is the hook
// go-message documents for adding charsets (charset.RegisterEncoding).
func init() {
	for _, label := range []string{"gb2312", "csgb2312", "gb_2312-80", "euc-cn", "x-euc-cn", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "chinese", "gb18030"} {
		charset.RegisterEncoding(label, simplifiedchinese.GB18030)
	}
	for _, label := range []string{"big5", "big5-hkscs", "x-x-big5", "cn-big5", "csbig5", "cp950"} {
		charset.RegisterEncoding(label, traditionalchinese.Big5)
	}
	for _, label := range []string{"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j", "cp932"} {
		charset.RegisterEncoding(label, japanese.ShiftJIS)
	}
	for _, label := range []string{"ks_c_5601-1987", "euc-kr", "cp949"} {
		charset.RegisterEncoding(label, korean.EUCKR)
	}
}

// Limits bounds what Parse accepts. The zero value of a field takes its
// default (DefaultLimits).
type Limits struct {
	// MaxMessageBytes: a larger message is refused whole (ErrTooLarge).
	MaxMessageBytes int
	// MaxAttachmentBytes: a larger attachment or inline image is kept as a
	// refused attachment (name, type, size and reason, no bytes).
	MaxAttachmentBytes int64
	// MaxTextBytes bounds each of the text and HTML bodies; the rest is cut.
	MaxTextBytes int
	// MaxParts and MaxDepth bound the MIME tree, so a crafted message cannot
	// make the parser walk forever.
	MaxParts, MaxDepth int
}

// DefaultLimits are the limits of a mailbox that sets none.
func DefaultLimits() Limits {
	return Limits{MaxMessageBytes: 50 << 20, MaxAttachmentBytes: 10 << 20, MaxTextBytes: 1 << 20, MaxParts: 256, MaxDepth: 16}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = d.MaxMessageBytes
	}
	if l.MaxAttachmentBytes <= 0 {
		l.MaxAttachmentBytes = d.MaxAttachmentBytes
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = d.MaxTextBytes
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	return l
}

// Errors of Parse; the message is then recorded as rejected with the error
// text as its reason.
var (
	ErrTooLarge  = errors.New("message too large")
	ErrMalformed = errors.New("malformed message")
)

// Noise kinds: mail that must never open a contact or trigger a reply.
const (
	NoiseAutoReply = "auto_reply"
	NoiseList      = "list"
	NoiseBounce    = "bounce"
)

// Address is one mailbox of a header: the address normalised to lower case.
type Address struct {
	Name, Addr string
}

// Attachment is a part of the message that is a file: an attachment, an
// inline image, a forwarded message. Rejected, when set, says why its bytes
// were not kept (Data is then nil); Size is its decoded size either way.
type Attachment struct {
	Filename, ContentType, ContentID string
	Inline                           bool
	Size                             int64
	Data                             []byte
	Rejected                         string
}

// Bounce is what a delivery status notification (RFC 3464) reports.
type Bounce struct {
	Recipient, Status, Action string
	// OriginalMessageID is the Message-ID of the message that bounced, from
	// the returned headers: it threads the bounce to our outbound mail.
	OriginalMessageID string
}

// Message is a parsed e-mail: what threading, the timeline and the console
// need, all text decoded to UTF-8.
type Message struct {
	// MessageID has no angle brackets. A message without one gets a stable
	// id derived from its content (MessageIDSynthetic), so its copies in two
	// mailboxes are still one message.
	MessageID          string
	MessageIDSynthetic bool
	InReplyTo          string
	References         []string
	From               Address
	ReplyTo, To, Cc    []Address
	Subject            string
	Date               time.Time
	// Text is the plain text body (from the HTML when there is no text
	// part); Folded is Text with the quoted history folded away.
	Text, Folded string
	// HTMLOriginal is the HTML as sent; HTMLSanitized is what an agent may
	// see (bluemonday: no script, no remote images, safe links).
	HTMLOriginal, HTMLSanitized string
	Attachments                 []Attachment
	// AutoSubmitted: the Auto-Submitted header said so (RFC 3834).
	AutoSubmitted bool
	// Noise is "", NoiseAutoReply, NoiseList or NoiseBounce.
	Noise  string
	Bounce *Bounce
	// ReplyTokens are the candidate reply tokens found in the threading
	// headers, X-Switchboard-Ref, the subject and the body; crm verifies them.
	ReplyTokens []string
	// Problems lists what was wrong but not fatal (a malformed part, an
	// unknown charset); never personal data.
	Problems []string
}

// Parse decodes a raw RFC 5322 message. It never panics and always ends:
// every read is bounded by raw and lim. An error means the message cannot be
// recorded as mail (its header is unreadable, or it is over the limit).
func Parse(raw []byte, lim Limits) (msg *Message, err error) {
	lim = lim.withDefaults()
	if len(raw) > lim.MaxMessageBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), lim.MaxMessageBytes)
	}
	defer func() {
		// go-message and x/text are well tested, but a crafted message
		// must cost one rejected mail, never the ingester.
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: parser panic: %v", ErrMalformed, r)
		}
	}()
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	p := &parser{lim: lim, msg: &Message{}}
	if err != nil {
		p.problem("top-level part: " + err.Error())
	}
	h := mail.Header{Header: e.Header}
	p.headers(h, raw)
	p.walk(e, 0)
	p.finish(h)
	return p.msg, nil
}

type parser struct {
	lim        Limits
	msg        *Message
	parts      int
	text, html strings.Builder
	// pendingBounce: a returned message was seen; it is a bounce's only
	// if the message turns out to be a delivery report.
	pendingBounce bool
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func (p *parser) problem(s string) {
	if len(p.msg.Problems) < 20 {
		p.msg.Problems = append(p.msg.Problems, cleanText(s))
	}
}

var msgIDPattern = regexp.MustCompile(`<([^<>\s]{1,900})>`)

// msgIDs returns the message ids of a header field, leniently: clients in
// the wild fold, comment and mangle References.
func msgIDs(v string) []string {
	var ids []string
	for _, m := range msgIDPattern.FindAllStringSubmatch(v, 100) {
		ids = append(ids, cleanText(m[1]))
	}
	return ids
}

func (p *parser) headers(h mail.Header, raw []byte) {
	m := p.msg
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	} else if v := strings.TrimSpace(h.Get("Message-Id")); v != "" && !strings.ContainsAny(v, " \t<>") && len(v) <= 900 {
		m.MessageID = cleanText(v)
	}
	if ids := msgIDs(h.Get("In-Reply-To")); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	m.References = msgIDs(h.Get("References"))
	m.From = first(p.addresses(h, "From"))
	if m.From.Addr == "" {
		m.From = first(p.addresses(h, "Sender"))
	}
	m.ReplyTo = p.addresses(h, "Reply-To")
	m.To = p.addresses(h, "To")
	m.Cc = p.addresses(h, "Cc")
	subject, err := h.Subject()
	if err != nil {
		p.problem("subject: " + err.Error())
	}
	m.Subject = cleanLine(subject)
	if d, err := h.Date(); err == nil {
		m.Date = d
	}
	if m.MessageID == "" {
		m.MessageID, m.MessageIDSynthetic = syntheticID(h, raw), true
	}
}

func first(as []Address) Address {
	if len(as) == 0 {
		return Address{}
	}
	return as[0]
}

var addrPattern = regexp.MustCompile(`[^\s<>"',;:()\[\]]+@[^\s<>"',;:()\[\]]+`)

// addresses parses an address list; a list net/mail refuses (unquoted
// commas, encoded words inside quotes, as Foxmail writes them) still yields
// its addresses.
func (p *parser) addresses(h mail.Header, key string) []Address {
	v := h.Get(key)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var out []Address
	list, err := h.AddressList(key)
	if err == nil {
		for _, a := range list {
			out = append(out, Address{Name: cleanLine(decodeWords(a.Name)), Addr: strings.ToLower(cleanText(a.Address))})
		}
		return out
	}
	for _, part := range strings.Split(v, ",") {
		addr := addrPattern.FindString(part)
		if addr == "" {
			continue
		}
		name := strings.TrimSpace(strings.Replace(part, addr, "", 1))
		name = strings.Trim(name, ` "<>`)
		out = append(out, Address{Name: cleanLine(decodeWords(name)), Addr: strings.ToLower(cleanText(addr))})
		if len(out) == 50 {
			break
		}
	}
	return out
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	return charset.Reader(strings.ToLower(cs), r)
}}

// decodeWords decodes RFC 2047 encoded words that net/mail left alone (it
// does not decode inside quoted strings, where many clients put them).
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	// Apple Mail 11 wrote B-encoded words without their base64 padding
	// ("=?utf-8?B?eHB0bw?=", testdata/forward_applemail_rfc822.eml); the
	// decoder leaves such a word as it is, so pad it first.
	s = bWord.ReplaceAllStringFunc(s, func(w string) string {
		m := bWord.FindStringSubmatch(w)
		if n := len(m[2]) % 4; n == 2 || n == 3 {
			return "=?" + m[1] + "?B?" + m[2] + strings.Repeat("=", 4-n) + "?="
		}
		return w
	})
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

var bWord = regexp.MustCompile(`(?i)=\?([^?\s]+)\?b\?([A-Za-z0-9+/]+)\?=`)

// traceFields change from one delivery of a message to the next (each
// mailbox's server adds its own), so the synthetic id leaves them out.
var traceFields = map[string]bool{"received": true, "return-path": true, "delivered-to": true, "x-original-to": true,
	"envelope-to": true, "x-envelope-to": true, "authentication-results": true, "arc-seal": true,
	"arc-message-signature": true, "arc-authentication-results": true, "received-spf": true, "x-fixture-source": true}

// syntheticID derives an id from the fields the sender wrote and the body,
// so the copies of one message in several mailboxes get the same id.
func syntheticID(h mail.Header, raw []byte) string {
	s := sha256.New()
	fields := h.Fields()
	for fields.Next() {
		k := strings.ToLower(fields.Key())
		if traceFields[k] || strings.HasPrefix(k, "x-") {
			continue
		}
		raw, _ := fields.Raw()
		s.Write(bytes.TrimSpace(raw))
		s.Write([]byte{'\n'})
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		s.Write(raw[i+4:])
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		s.Write(raw[i+2:])
	}
	return "sha256-" + hex.EncodeToString(s.Sum(nil)[:20]) + "@no-message-id.switchboard.invalid"
}

// walk visits one MIME entity and its children.
func (p *parser) walk(e *message.Entity, depth int) {
	p.parts++
	if p.parts > p.lim.MaxParts {
		if p.parts == p.lim.MaxParts+1 {
			p.problem(fmt.Sprintf("more than %d parts; the rest ignored", p.lim.MaxParts))
		}
		return
	}
	if depth > p.lim.MaxDepth {
		p.problem(fmt.Sprintf("parts nested deeper than %d ignored", p.lim.MaxDepth))
		return
	}
	mt, _, err := e.Header.ContentType()
	if err != nil || mt == "" {
		mt = "text/plain"
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			} else if err != nil && part == nil {
				p.problem("multipart: " + err.Error())
				break
			} else if err != nil {
				p.problem("part: " + err.Error())
			}
			p.walk(part, depth+1)
			if p.parts > p.lim.MaxParts {
				break
			}
		}
		return
	}
	disp, _, _ := e.Header.ContentDisposition()
	ah := mail.AttachmentHeader{Header: e.Header}
	filename, _ := ah.Filename()
	filename = cleanLine(decodeWords(filename))
	switch {
	case mt == "message/delivery-status":
		body, _ := p.readText(e.Body)
		p.deliveryStatus(body)
		return
	case mt == "text/rfc822-headers":
		body, _ := p.readText(e.Body)
		p.returnedHeaders(body)
		return
	case (mt == "text/plain" || mt == "text/html") && disp != "attachment" && filename == "":
		body, err := p.readText(e.Body)
		if err != nil {
			p.problem(mt + " body: " + err.Error())
		}
		if mt == "text/html" {
			appendPart(&p.html, body, p.lim.MaxTextBytes)
		} else {
			appendPart(&p.text, body, p.lim.MaxTextBytes)
		}
		return
	}
	a := Attachment{Filename: filename, ContentType: mt, ContentID: contentID(e.Header.Get("Content-Id"))}
	a.Inline = disp == "inline" || (disp == "" && a.ContentID != "")
	data, size, err := readLimited(e.Body, p.lim.MaxAttachmentBytes)
	a.Size = size
	switch {
	case size > p.lim.MaxAttachmentBytes:
		a.Rejected = fmt.Sprintf("too large: %d bytes, the limit is %d", size, p.lim.MaxAttachmentBytes)
	case err != nil:
		a.Rejected = "unreadable: " + cleanText(err.Error())
	default:
		a.Data = data
	}
	if mt == "message/rfc822" && a.Data != nil {
		// Kept as an attachment (a forward); inside a report it is also
		// the returned message that threads the bounce (finish decides).
		p.returnedHeaders(string(a.Data))
	}
	p.msg.Attachments = append(p.msg.Attachments, a)
}

func contentID(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "<")
	v = strings.TrimSuffix(v, ">")
	return cleanText(v)
}

func appendPart(b *strings.Builder, s string, max int) {
	if b.Len() >= max {
		return
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	if b.Len()+len(s) > max {
		s = s[:max-b.Len()]
	}
	b.WriteString(s)
}

// readText reads a text part, bounded, as valid UTF-8.
func (p *parser) readText(r io.Reader) (string, error) {
	b, _, err := readLimited(r, int64(p.lim.MaxTextBytes))
	return cleanText(string(b)), err
}

// readLimited reads up to max bytes of r and counts (without keeping) the
// rest, so a refused part still has its true size.
func readLimited(r io.Reader, max int64) ([]byte, int64, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max))
	if err != nil {
		return buf.Bytes(), n, err
	}
	rest, err := io.Copy(io.Discard, r)
	if rest > 0 {
		return nil, n + rest, err
	}
	return buf.Bytes(), n, err
}

// deliveryStatus reads a message/delivery-status body: a per-message block,
// then one block per recipient. The first failed recipient is the bounce.
func (p *parser) deliveryStatus(body string) {
	b := &Bounce{}
	for _, block := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n\n") {
		h, err := textproto.ReadHeader(bufioReader(block + "\n\n"))
		if err != nil {
			continue
		}
		rcpt := dsnAddress(h.Get("Final-Recipient"))
		if rcpt == "" {
			rcpt = dsnAddress(h.Get("Original-Recipient"))
		}
		if rcpt == "" {
			continue
		}
		action := strings.ToLower(strings.TrimSpace(h.Get("Action")))
		if b.Recipient == "" || (b.Action != "failed" && action == "failed") {
			b.Recipient, b.Action, b.Status = rcpt, action, cleanLine(h.Get("Status"))
		}
	}
	if p.msg.Bounce != nil && p.msg.Bounce.OriginalMessageID != "" {
		b.OriginalMessageID = p.msg.Bounce.OriginalMessageID
	}
	p.msg.Bounce = b
}

// dsnAddress takes "rfc822; user@example.com" to the address.
func dsnAddress(v string) string {
	if _, a, ok := strings.Cut(v, ";"); ok {
		v = a
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	if !strings.Contains(v, "@") || strings.ContainsAny(v, " \t") {
		return ""
	}
	return strings.ToLower(cleanText(v))
}

// returnedHeaders notes the Message-ID of a message returned inside a
// report (text/rfc822-headers or message/rfc822).
func (p *parser) returnedHeaders(s string) {
	h, err := textproto.ReadHeader(bufioReader(s))
	if err != nil && h.Len() == 0 {
		return
	}
	ids := msgIDs(h.Get("Message-Id"))
	if len(ids) == 0 {
		return
	}
	if p.msg.Bounce == nil {
		p.msg.Bounce = &Bounce{}
		p.pendingBounce = true
	}
	if p.msg.Bounce.OriginalMessageID == "" {
		p.msg.Bounce.OriginalMessageID = ids[0]
	}
}

// finish settles the bodies, the noise kind and the reply tokens.
func (p *parser) finish(h mail.Header) {
	m := p.msg
	m.Text = strings.TrimSpace(p.text.String())
	m.HTMLOriginal = p.html.String()
	if m.HTMLOriginal != "" {
		m.HTMLSanitized = Sanitize(m.HTMLOriginal)
		if m.Text == "" {
			m.Text = strings.TrimSpace(HTMLText(m.HTMLOriginal))
		}
	}
	m.Folded = Fold(m.Text)

	mt, params, _ := h.ContentType()
	report := mt == "multipart/report" && strings.EqualFold(params["report-type"], "delivery-status")
	if !report && p.pendingBounce {
		// A forwarded message, not a returned one.
		m.Bounce = nil
	}
	if report && m.Bounce == nil {
		m.Bounce = &Bounce{}
	}
	auto := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	m.AutoSubmitted = auto != "" && auto != "no"
	prec := strings.ToLower(strings.TrimSpace(h.Get("Precedence")))
	from := m.From.Addr
	local, _, _ := strings.Cut(from, "@")
	switch {
	case m.Bounce != nil:
		m.Noise = NoiseBounce
	case (local == "mailer-daemon" || local == "postmaster") && h.Get("Return-Path") != "" && strings.TrimSpace(h.Get("Return-Path")) == "<>":
		m.Noise, m.Bounce = NoiseBounce, &Bounce{}
	case m.AutoSubmitted, h.Get("X-Autoreply") != "", h.Get("X-Autorespond") != "", h.Get("X-Autoresponder") != "",
		prec == "junk", autoReplySubject(m.Subject):
		m.Noise = NoiseAutoReply
	case prec == "bulk", prec == "list", h.Get("List-Id") != "":
		m.Noise = NoiseList
	}

	seen := map[string]bool{}
	add := func(s string) {
		for _, t := range tokenPattern.FindAllString(strings.ToLower(s), 10) {
			if !seen[t] && len(m.ReplyTokens) < 10 {
				seen[t] = true
				m.ReplyTokens = append(m.ReplyTokens, t)
			}
		}
	}
	add(h.Get("X-Switchboard-Ref"))
	add(m.InReplyTo)
	for _, r := range m.References {
		add(r)
	}
	add(m.Subject)
	add(m.Text)
}

// tokenPattern finds reply tokens (crm.ReplyToken's format: "sb1" and 42
// base32 characters) wherever a client kept them.
var tokenPattern = regexp.MustCompile(`sb1[a-z2-7]{42}`)

// autoReplySubject is the subject of an auto-reply from a client that marks
// it no other way (QQ Mail, 163 and older Outlook send none of the headers).
func autoReplySubject(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"自动回复", "自動回覆", "自动答复", "automatic reply", "auto-reply", "autoreply", "auto reply", "out of office", "abwesenheitsnotiz"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// cleanText makes s storable: valid UTF-8 without NUL bytes (PostgreSQL
// refuses both).
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// cleanLine is cleanText on one line: header values unfolded.
func cleanLine(s string) string {
	s = cleanText(s)
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	return strings.TrimSpace(s)
}

// ParseAddress normalises one address the way Parse does, for callers that
// compare (a mailbox's own address).
func ParseAddress(s string) (string, error) {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return strings.ToLower(a.Address), nil
}
