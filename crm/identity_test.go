package crm_test

import (
	"errors"
	"testing"

	"github.com/switchboard-cc/switchboard/crm"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"wang.wei@example.cn", "wang.wei@example.cn"},
		{"  Wang.Wei@Example.CN \n", "wang.wei@example.cn"},
		{"li+service@mail.example.com", "li+service@mail.example.com"},
	} {
		got, err := crm.NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "   ", "wang", "wang@", "@example.cn", "wang@localhost", "a@b@c.cn",
		"Wang Wei <wang@example.cn>", "wang wei@example.cn", "wang@example.", "wang@.cn"} {
		if got, err := crm.NormalizeEmail(in); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("NormalizeEmail(%q) = %q, %v, want ErrInvalid", in, got, err)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ raw, region, want string }{
		{"13800138000", "", "+8613800138000"},
		{"138-0013-8000", "CN", "+8613800138000"},
		{"+86 138 0013 8000", "CN", "+8613800138000"},
		{"0086 13800138000", "CN", "+8613800138000"},
		{"+86 138 0013 8000", "US", "+8613800138000"},
		{"021 6234 5678", "cn", "+862162345678"},
		{"(415) 555-0132", "US", "+14155550132"},
	} {
		got, err := crm.NormalizePhone(tc.raw, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v, want %q", tc.raw, tc.region, got, err, tc.want)
		}
	}
	for _, raw := range []string{"", "  ", "hello", "12", "138001380001234567", "+0 000", "++86"} {
		if got, err := crm.NormalizePhone(raw, "CN"); !errors.Is(err, crm.ErrInvalid) {
			t.Errorf("NormalizePhone(%q, CN) = %q, %v, want ErrInvalid", raw, got, err)
		}
	}
}

// Normalising is idempotent: what is stored normalises to itself, so a value
// read back and normalised again still matches its identity row.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Wang.Wei@Example.CN", "a@b.c", "<a@b.c>", "\"a b\"@c.d", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := crm.NormalizeEmail(s)
		if err != nil {
			if !errors.Is(err, crm.ErrInvalid) {
				t.Fatalf("NormalizeEmail(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		if n2, err := crm.NormalizeEmail(n); err != nil || n2 != n {
			t.Fatalf("NormalizeEmail(%q) = %q, %v, want %q", n, n2, err, n)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"13800138000", "0086 13800138000", "+1 415 555 0132", "021-62345678", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := crm.NormalizePhone(s, "CN")
		if err != nil {
			if !errors.Is(err, crm.ErrInvalid) {
				t.Fatalf("NormalizePhone(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		if n2, err := crm.NormalizePhone(n, "CN"); err != nil || n2 != n {
			t.Fatalf("NormalizePhone(%q) = %q, %v, want %q", n, n2, err, n)
		}
	})
}
