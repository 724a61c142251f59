package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/netguard"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		ip             string
		deny, withPriv bool // refused by default; refused with AllowPrivate
	}{
		{"93.184.216.34", false, false},
		{"8.8.8.8", false, false},
		{"2606:4700:4700::1111", false, false},
		{"127.0.0.1", true, false},
		{"127.255.0.9", true, false},
		{"::1", true, false},
		{"10.1.2.3", true, false},
		{"172.16.0.1", true, false},
		{"172.31.255.255", true, false},
		{"172.32.0.1", false, false}, // just outside 172.16/12
		{"192.168.1.1", true, false},
		{"fd00::1", true, false},
		{"fc00::1", true, false},
		{"169.254.169.254", true, false}, // cloud metadata
		{"fe80::1", true, false},
		{"fe80::1%eth0", true, false},
		{"100.64.0.1", true, false},
		{"100.127.255.255", true, false},
		{"100.128.0.1", false, false},
		{"0.0.0.0", true, true},
		{"::", true, true},
		{"224.0.0.1", true, true},
		{"239.255.255.250", true, true},
		{"ff02::1", true, true},
		{"255.255.255.255", true, true},
		{"::ffff:127.0.0.1", true, false},    // IPv4-mapped loopback
		{"::ffff:10.0.0.1", true, false},     // IPv4-mapped private
		{"64:ff9b::a9fe:a9fe", true, false},  // NAT64 of 169.254.169.254
		{"64:ff9b::5db8:d822", false, false}, // NAT64 of a public address
	} {
		ip := netip.MustParseAddr(c.ip)
		err := netguard.Policy{}.Check(ip)
		if got := err != nil; got != c.deny || (err != nil && !errors.Is(err, netguard.ErrForbidden)) {
			t.Errorf("Policy{}.Check(%s) = %v, want refused %v", c.ip, err, c.deny)
		}
		err = netguard.Policy{AllowPrivate: true}.Check(ip)
		if got := err != nil; got != c.withPriv {
			t.Errorf("Policy{AllowPrivate}.Check(%s) = %v, want refused %v", c.ip, err, c.withPriv)
		}
	}
	if err := (netguard.Policy{}).Check(netip.Addr{}); !errors.Is(err, netguard.ErrForbidden) {
		t.Errorf("Check(zero Addr) = %v, want ErrForbidden", err)
	}
}

// fakeResolver answers every name with addrs (or err).
type fakeResolver struct {
	addrs []netip.Addr
	err   error
}

func (f fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return f.addrs, f.err
}

func TestCheckHost(t *testing.T) {
	ctx := context.Background()
	public := fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("93.184.216.34")}}
	mixed := fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.7")}}
	nxdomain := fakeResolver{err: &net.DNSError{Err: "no such host", IsNotFound: true}}
	for _, c := range []struct {
		host string
		r    netguard.Resolver
		deny bool
	}{
		{"erp.example.com", public, false},
		{"erp.example.com", mixed, true}, // one private answer is enough
		{"not-yet.example.com", nxdomain, false},
		{"127.0.0.1", public, true}, // literals are not resolved
		{"[::1]", public, true},
		{"localhost", public, true},
		{"LOCALHOST.", public, true},
		{"api.localhost", public, true},
		{"8.8.8.8", nxdomain, false},
		{"", public, true},
	} {
		err := netguard.Policy{}.CheckHost(ctx, c.r, c.host)
		if got := err != nil; got != c.deny {
			t.Errorf("CheckHost(%q) = %v, want refused %v", c.host, err, c.deny)
		}
	}
	if err := (netguard.Policy{AllowPrivate: true}).CheckHost(ctx, mixed, "localhost"); err != nil {
		t.Errorf("AllowPrivate CheckHost(localhost) = %v, want nil", err)
	}
}

// TestControlRefusesTheDialledAddress dials a real listener on 127.0.0.1
// through an HTTP client whose dialer has the hook: refused by default,
// through with AllowPrivate. The name "localhost" resolves at dial time,
// which is what DNS rebinding would exploit: the hook sees the address.
func TestControlRefusesTheDialledAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, allow := range []bool{false, true} {
		p := netguard.Policy{AllowPrivate: allow}
		client := &http.Client{Transport: &http.Transport{DialContext: p.Dialer(5 * time.Second).DialContext}}
		for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
			resp, err := client.Get(u)
			if allow {
				if err != nil {
					t.Errorf("AllowPrivate GET %s = %v, want 204", u, err)
					continue
				}
				resp.Body.Close()
				continue
			}
			if err == nil {
				resp.Body.Close()
				t.Errorf("GET %s went through the guard (status %d)", u, resp.StatusCode)
			} else if !errors.Is(err, netguard.ErrForbidden) {
				t.Errorf("GET %s = %v, want ErrForbidden", u, err)
			}
		}
	}
}

func FuzzControl(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:443", "[fe80::1%eth0]:80", "93.184.216.34:443", "", "x:y", "[::ffff:10.0.0.1]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, address string) {
		p := netguard.Policy{}
		err := p.Control("tcp", address, nil)
		if ap, perr := netip.ParseAddrPort(address); perr != nil && err == nil {
			t.Fatalf("Control(%q) = nil for an unparsable address", address)
		} else if perr == nil && (err == nil) != (p.Check(ap.Addr()) == nil) {
			t.Fatalf("Control(%q) = %v disagrees with Check", address, err)
		}
		_ = p.CheckHost(context.Background(), fakeResolver{}, address)
	})
}
