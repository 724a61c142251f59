package crm

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Masking is how people see identities by default: enough to recognise a
// customer ("the one ending 8000") without holding their number. Full
// values go only to roles the tenant allows, one audited view at a time
// (Reveal), and to the agent dialling a callback (AuditCallbackDial).

// MaskPhone masks an E.164 number. The country code stays; of the national
// number the first three and the last four digits stay when at least ten
// digits are there (+86 138****8000, +86 211***5678), the first two and
// last two of shorter ones, and only the last two of very short ones, so
// that at least three digits are always hidden. Values that do not parse
// keep only their last two characters.
func MaskPhone(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil || num.GetCountryCode() == 0 {
		return maskTail(e164, 2)
	}
	national := phonenumbers.GetNationalSignificantNumber(num)
	n := len(national)
	head, tail := 0, 2
	switch {
	case n >= 10:
		head, tail = 3, 4
	case n >= 7:
		head, tail = 2, 2
	}
	return "+" + strconv.Itoa(int(num.GetCountryCode())) + " " +
		national[:head] + strings.Repeat("*", n-head-tail) + national[n-tail:]
}

// maskTail keeps the last keep runes of s and stars the others (at least
// three stars, so that the length of a short value is not given away).
func maskTail(s string, keep int) string {
	r := []rune(s)
	if len(r) <= keep+1 {
		return "***"
	}
	return strings.Repeat("*", max(3, len(r)-keep)) + string(r[len(r)-keep:])
}

// MaskEmail keeps the first character of the local part and the domain:
// wang.wei@example.cn → w***@example.cn. The domain says which company or
// provider, which agents use to tell customers apart, and is rarely
// personal on its own.
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return maskTail(addr, 0)
	}
	_, size := utf8.DecodeRuneInString(addr)
	return addr[:size] + "***" + addr[at:]
}

// MaskIdentity returns id with its value masked by kind: phones and e-mails
// as above, chat visitor and WeChat ids to their first and last three
// characters. External ids (a DMS customer number) are the other system's
// key rather than a way to reach the person, and stay.
func MaskIdentity(id Identity) Identity {
	switch id.Kind {
	case KindPhone:
		id.Value = MaskPhone(id.Value)
	case KindEmail:
		id.Value = MaskEmail(id.Value)
	case KindChat, KindWeChat:
		r := []rune(id.Value)
		if len(r) <= 8 {
			id.Value = "***"
		} else {
			id.Value = string(r[:3]) + "***" + string(r[len(r)-3:])
		}
	}
	return id
}

// MaskIdentities returns a masked copy of ids (never nil).
func MaskIdentities(ids []Identity) []Identity {
	out := make([]Identity, len(ids))
	for i, id := range ids {
		out[i] = MaskIdentity(id)
	}
	return out
}
