package crm_test

import (
	"errors"
	"testing"

	"github.com/switchboard-cc/switchboard/crm"
)

func TestValidVIN(t *testing.T) {
	for _, c := range []struct {
		vin  string
		want bool
		why  string
	}{
		// The worked example of the North American check digit (position 9 is X).
		{"1M8GDM9AXKP042788", true, "public worked example"},
		{"1HGCM82633A004352", true, "public example (Honda), check digit 3"},
		{"11111111111111111", true, "all ones: the sum is 1 mod 11"},
		// The demo generator's two fixed VINs with their check digits (cmd/switchboard/internal/demo).
		{"LSVAU2182N2183290", true, "demo VIN"},
		{"LGXC16DF7P0123450", true, "demo VIN"},
		{"1M8GDM9A0KP042788", false, "wrong check digit"},
		{"LSVAU2180N2183290", false, "wrong check digit"},
		{"1M8GDM9AXKP04278", false, "16 characters"},
		{"1M8GDM9AXKP0427888", false, "18 characters"},
		{"1M8GDM9AXKP0427I8", false, "I"},
		{"1M8GDM9AXKPO42788", false, "O"},
		{"1M8GDM9AXKPQ42788", false, "Q"},
		{"1m8gdm9axkp042788", false, "lower case is not stored form"},
		{"", false, "empty"},
	} {
		if got := crm.ValidVIN(c.vin); got != c.want {
			t.Errorf("ValidVIN(%q) = %v, want %v (%s)", c.vin, got, c.want, c.why)
		}
	}
	// NormalizeVIN accepts spelling variants of a valid VIN and says why it refuses.
	if got, err := crm.NormalizeVIN(" 1m8gdm9axkp 042788 "); err != nil || got != "1M8GDM9AXKP042788" {
		t.Errorf("NormalizeVIN(lower case with spaces) = %q, %v", got, err)
	}
	for in, msg := range map[string]string{
		"1M8GDM9A0KP042788": "vin check digit (position 9) does not match",
		"1M8GDM9AXKP0427I8": "vin cannot contain I, O or Q",
		"1M8GDM9AX":         "vin must be 17 characters",
		"1M8GDM9AXKP04278$": "vin may hold only letters and digits",
	} {
		_, err := crm.NormalizeVIN(in)
		if !errors.Is(err, crm.ErrInvalid) || err.Error() != msg+": invalid" {
			t.Errorf("NormalizeVIN(%q) = %v, want %q", in, err, msg)
		}
	}
}

func TestNormalizePlate(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"沪A12345", "沪A12345"},
		{"沪a12345", "沪A12345"},
		{"沪A 12345", "沪A12345"},
		{"沪A·12345", "沪A12345"},
		{"京AD12345", "京AD12345"}, // new-energy (green) plate: 6 after the letter
		{"京 ad-12345", "京AD12345"},
		{"粤B1234学", "粤B1234学"}, // learner plate
		{"浙A0000Z", "浙A0000Z"},
		{"沪A1234", ""},    // too short
		{"沪A1234567", ""}, // too long
		{"AA12345", ""},   // no province
		{"哈A12345", ""},   // not a province abbreviation
		{"沪112345", ""},   // office must be a letter
		{"沪A12345!", ""},  // stray character
		{"", ""},
	} {
		got, err := crm.NormalizePlate(c.in)
		if c.want == "" {
			if !errors.Is(err, crm.ErrInvalid) {
				t.Errorf("NormalizePlate(%q) = %q, %v; want ErrInvalid", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizePlate(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNormalizePhoneAt(t *testing.T) {
	for _, c := range []struct{ raw, country, area, want string }{
		{"12345678", "CN", "21", "+862112345678"}, // a Shanghai landline dialled locally
		{"87654321", "CN", "571", "+8657187654321"},
		{"13800138000", "CN", "21", "+8613800138000"}, // mobiles have no area
		{"138-0013-8000", "CN", "", "+8613800138000"},
		{"+86 138 0013 8000", "", "", "+8613800138000"},
		{"0086 13800138000", "CN", "21", "+8613800138000"},
		{"021-12345678", "CN", "571", "+862112345678"}, // a trunk prefix beats the site's area
	} {
		got, err := crm.NormalizePhoneAt(c.raw, c.country, c.area)
		if err != nil || got != c.want {
			t.Errorf("NormalizePhoneAt(%q, %q, %q) = %q, %v; want %q", c.raw, c.country, c.area, got, err, c.want)
		}
	}
	if _, err := crm.NormalizePhoneAt("12345678", "CN", ""); !errors.Is(err, crm.ErrInvalid) {
		t.Errorf("a local number without an area code = %v, want ErrInvalid", err)
	}
}
