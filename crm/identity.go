package crm

import (
	"cmp"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nyaruka/phonenumbers"
)

// Identity kinds.
const (
	KindPhone    = "phone"
	KindEmail    = "email"
	KindChat     = "chat"
	KindWeChat   = "wechat"
	KindExternal = "external"
)

// Identity is one way of reaching or recognising a customer. Values are
// stored as given: callers normalise phones and e-mails first (NormalizePhone,
// NormalizeEmail), because only they know the site whose dialling rules apply.
type Identity struct {
	Kind   string `json:"kind"`
	System string `json:"system,omitempty"` // for kind external: which system the id is from
	Value  string `json:"value"`
}

func (id Identity) valid() bool {
	switch id.Kind {
	case KindPhone, KindEmail, KindChat, KindWeChat, KindExternal:
	default:
		return false
	}
	// PostgreSQL text holds neither NUL nor invalid UTF-8.
	return id.Value != "" && len(id.Value) <= 512 && len(id.System) <= 128 &&
		utf8.ValidString(id.Value+id.System) && !strings.ContainsRune(id.Value+id.System, 0)
}

// lockKey names the advisory lock that serialises creating a customer from
// this identity. Tenant and kind contain no "|", and the system is length
// prefixed, so two different identities never share a key.
func (id Identity) lockKey(tenant uuid.UUID) string {
	return fmt.Sprintf("%s|%s|%d:%s|%s", tenant, id.Kind, len(id.System), id.System, id.Value)
}

func compareIdentity(a, b Identity) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.System, b.System), cmp.Compare(a.Value, b.Value))
}

// cleanIdentities validates ids and returns them sorted and without
// duplicates. The sort is what makes the advisory locks deadlock-free: every
// transaction takes them in the same order.
func cleanIdentities(ids []Identity) ([]Identity, error) {
	out := make([]Identity, 0, len(ids))
	for i, id := range ids {
		if !id.valid() {
			return nil, fmt.Errorf("identity %d (kind %q): %w", i, id.Kind, ErrInvalid)
		}
		out = append(out, id)
	}
	slices.SortFunc(out, compareIdentity)
	return slices.CompactFunc(out, func(a, b Identity) bool { return compareIdentity(a, b) == 0 }), nil
}

// NormalizeEmail trims and lower-cases an e-mail address and checks that it
// is a bare address (no display name) with a dotted domain. Garbage is
// ErrInvalid; the error never repeats the input.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 254 {
		return "", fmt.Errorf("e-mail address: %w", ErrInvalid)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("e-mail address: %w", ErrInvalid)
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if at <= 0 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", fmt.Errorf("e-mail address: %w", ErrInvalid)
	}
	return s, nil
}

// NormalizePhone returns raw in E.164 (+8613800138000), reading national
// and IDD-prefixed forms by the dialling rules of region (ISO 3166, default
// "CN"). A number that is not valid for its country is ErrInvalid; the error
// never repeats the input.
func NormalizePhone(raw, region string) (string, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if region == "" {
		region = "CN"
	}
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 64 {
		return "", fmt.Errorf("phone number: %w", ErrInvalid)
	}
	n, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("phone number: %w", ErrInvalid)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}
