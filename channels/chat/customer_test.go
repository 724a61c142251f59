package chat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCustomerToken(t *testing.T) {
	secret := []byte("site-secret-0123456789")
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", SignCustomerToken(secret, "site-a", "C-1", now.Add(time.Hour)), nil},
		{"valid for exactly 24 h", SignCustomerToken(secret, "site-a", "C-1", now.Add(24*time.Hour)), nil},
		{"expired", SignCustomerToken(secret, "site-a", "C-1", now.Add(-time.Second)), errCustomerExpired},
		{"expires now", SignCustomerToken(secret, "site-a", "C-1", now), errCustomerExpired},
		{"forged", SignCustomerToken([]byte("another secret"), "site-a", "C-1", now.Add(time.Hour)), errCustomerForged},
		{"other site", SignCustomerToken(secret, "site-b", "C-1", now.Add(time.Hour)), errCustomerOtherSite},
		{"more than 24 h", SignCustomerToken(secret, "site-a", "C-1", now.Add(25*time.Hour)), errCustomerTooLong},
		{"no customer", SignCustomerToken(secret, "site-a", "", now.Add(time.Hour)), errCustomerMalformed},
		{"no dot", "abc", errCustomerMalformed},
		{"two dots", "a.b.c", errCustomerMalformed},
		{"too long", strings.Repeat("a", 2000), errCustomerMalformed},
	}
	for _, tc := range cases {
		c, err := parseCustomerToken(secret, "site-a", tc.token, now)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: parseCustomerToken = %v, %v; want %v", tc.name, c, err, tc.want)
		}
		if err == nil && c.Customer != "C-1" {
			t.Errorf("%s: customer %q, want C-1", tc.name, c.Customer)
		}
	}
	if _, err := parseCustomerToken(nil, "site-a", cases[0].token, now); !errors.Is(err, errCustomerNoSecret) {
		t.Errorf("site without a secret: %v, want %v", err, errCustomerNoSecret)
	}
}

// FuzzParseCustomerToken: whatever a page passes as a customer token,
// parsing neither panics nor accepts what the site's secret did not sign,
// for another site, expired, or longer than 24 hours.
func FuzzParseCustomerToken(f *testing.F) {
	secret := []byte("site-secret-0123456789")
	now := time.Unix(1_800_000_000, 0)
	f.Add(SignCustomerToken(secret, "site-a", "C-1", now.Add(time.Hour)))
	f.Add(SignCustomerToken(secret, "site-b", "C-1", now.Add(time.Hour)))
	f.Add("e30.")
	f.Add(".")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCustomerToken(secret, "site-a", s, now)
		if err != nil {
			return
		}
		if c.Site != "site-a" || c.Customer == "" || now.Unix() >= c.Exp || c.Exp-now.Unix() > int64((maxCustomerTTL+clockSkew)/time.Second) {
			t.Errorf("accepted %q as %+v", s, c)
		}
		p, _, _ := strings.Cut(s, ".")
		if SignCustomerToken(secret, c.Site, c.Customer, time.Unix(c.Exp, 0)) != s && !strings.HasPrefix(s, p) {
			t.Errorf("accepted a token the secret did not sign: %q", s)
		}
	})
}

func TestSniffAttachment(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"png", png, "image/png"},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "image/gif"},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"pdf", []byte("%PDF-1.7\n"), "application/pdf"},
		{"html named png", []byte("<html><script>alert(1)</script>"), ""},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), ""},
		{"html after a png signature is still a png", append(png, "<html>"...), "image/png"},
		{"riff that is not webp", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), ""},
		{"text", []byte("hello"), ""},
		{"empty", nil, ""},
	} {
		got, err := SniffAttachment(tc.data)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("SniffAttachment(%s) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		`../../etc/passwd`:       "passwd",
		`C:\Users\x\a.png`:       "a.png",
		"a\x00b\nc.pdf":          "abc.pdf",
		`say "hi".png`:           "say hi.png",
		"":                       "file",
		strings.Repeat("名", 150): strings.Repeat("名", 100),
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}
