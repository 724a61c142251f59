package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden: the address is one a tenant's URL may not reach.
var ErrForbidden = errors.New("address not allowed for outbound requests")

// Policy decides which addresses outbound requests may reach. The zero
// Policy is the safe default: public unicast addresses only.
type Policy struct {
	// AllowPrivate also lets loopback, private, link-local and CGNAT
	// addresses through: for tests with 127.0.0.1 receivers and for
	// deployments whose receivers live on the same private network.
	// Multicast, unspecified and reserved addresses stay refused.
	AllowPrivate bool
}

type block struct {
	prefix  netip.Prefix
	what    string
	private bool // AllowPrivate lets it through
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// blocks are the refused ranges, each with what it is (for error
// messages). IPv4-mapped and NAT64 addresses are checked as the IPv4
// address they carry (see Check).
var blocks = []block{
	{mustPrefix("127.0.0.0/8"), "loopback", true},
	{mustPrefix("::1/128"), "loopback", true},
	{mustPrefix("10.0.0.0/8"), "private", true},
	{mustPrefix("172.16.0.0/12"), "private", true},
	{mustPrefix("192.168.0.0/16"), "private", true},
	{mustPrefix("fc00::/7"), "private", true},          // RFC 4193 unique local
	{mustPrefix("fec0::/10"), "private", true},         // deprecated site-local
	{mustPrefix("169.254.0.0/16"), "link-local", true}, // cloud metadata lives here
	{mustPrefix("fe80::/10"), "link-local", true},
	{mustPrefix("100.64.0.0/10"), "CGNAT", true},
	{mustPrefix("0.0.0.0/8"), "unspecified", false}, // "this network": 0.0.0.0 reaches the host itself
	{mustPrefix("::/128"), "unspecified", false},
	{mustPrefix("224.0.0.0/4"), "multicast", false},
	{mustPrefix("ff00::/8"), "multicast", false},
	{mustPrefix("240.0.0.0/4"), "reserved", false}, // includes 255.255.255.255
}

var nat64 = mustPrefix("64:ff9b::/96")

// Check returns nil when p allows ip, else an error wrapping ErrForbidden
// that names the kind of address (never the host name asked for).
func (p Policy) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("invalid address: %w", ErrForbidden)
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, b := range blocks {
		if b.prefix.Contains(ip) {
			if b.private && p.AllowPrivate {
				return nil
			}
			return fmt.Errorf("%s is a %s address: %w", ip, b.what, ErrForbidden)
		}
	}
	return nil
}

// Control is a net.Dialer Control hook: it checks the address about to be
// connected to, after name resolution, so a name that resolved to a
// public address when it was registered and to a private one now is
// still refused.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", network, ErrForbidden)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a net.Dialer whose connections p checks.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}

// Resolver looks names up; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckHost is the registration-time check of a URL's host (without the
// port): an address literal is checked as it is; "localhost" and names
// under it are refused; any other name is resolved and refused when one of
// its addresses is. A name that does not resolve (yet) passes: the
// receiver may not be in DNS yet, and Control refuses at delivery whatever
// it comes to resolve to.
func (p Policy) CheckHost(ctx context.Context, r Resolver, host string) error {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return fmt.Errorf("empty host: %w", ErrForbidden)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.Check(ip)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if p.AllowPrivate {
			return nil
		}
		return fmt.Errorf("localhost is a loopback address: %w", ErrForbidden)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.Check(a); err != nil {
			return fmt.Errorf("the host resolves to a refused address: %w", err)
		}
	}
	return nil
}
