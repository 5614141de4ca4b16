// Package urlpolicy decides which URLs the bot's browser may load: the
// meeting URL a start names, every redirect and frame it leads to, and every
// connection the browser opens. Hosts are read the way a browser reads them
// (ParseHost), names are resolved, and the addresses they lead to are
// checked, so an internal service cannot be reached by spelling its address
// differently, by a name that points at it, or by a redirect.
package urlpolicy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy is the set of places the bot may go. The zero Policy allows any
// public address and nothing else.
type Policy struct {
	// Allow are the operator's --meeting-hosts: "meet.example.com" (that
	// host), ".example.com" (any host under it), an address or a CIDR
	// ("10.1.0.0/16"). When it names hosts, only those hosts are allowed. A
	// host it names may be on a private or loopback address; link-local,
	// unspecified and multicast addresses need an address or CIDR entry.
	Allow []string `json:"allow,omitempty"`
	// Self are this server's own origins as "host:port" (its --public-url,
	// its listen address): always allowed, at any address.
	Self []string `json:"self,omitempty"`
	// Resolver resolves names; nil means net.DefaultResolver.
	Resolver Resolver `json:"-"`
}

// Refusal is a URL or connection the policy does not allow; its message says
// why in words a person can act on and never holds the URL's path or query.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, args ...any) error { return &Refusal{Reason: fmt.Sprintf(format, args...)} }

// metadataNames are cloud metadata service names, refused whatever they
// resolve to.
var metadataNames = []string{"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}

// CheckURL checks a URL the browser is about to load: http(s) or ws(s), no
// user:password, and a host:port CheckHost allows.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return refuse("not an absolute URL; want http(s)://host/path")
	}
	port := defaultPorts[u.Scheme]
	if port == "" {
		return refuse("scheme must be http or https, got %q", u.Scheme)
	}
	if u.User != nil {
		return refuse("user:password in the URL is not allowed")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	if u.Hostname() == "" {
		return refuse("no host")
	}
	_, err = p.CheckHost(ctx, u.Hostname(), port)
	return err
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// CheckHost checks a host and port as net.SplitHostPort or url.Hostname
// give them (an IPv6 address without brackets), and returns the addresses
// a connection may use: the caller dials only those, so a name cannot
// resolve to something else between check and connect. Self origins return
// no addresses: dial them by name.
func (p Policy) CheckHost(ctx context.Context, rawHost, port string) ([]netip.Addr, error) {
	h, err := parseSplitHost(rawHost)
	if err != nil {
		return nil, refuse("host %q is not a valid host name or address", rawHost)
	}
	if p.isSelf(h, port) {
		return nil, nil
	}
	named := p.named(h)
	if p.restricted() && !named && !(h.Addr.IsValid() && p.inCIDR(h.Addr)) {
		return nil, refuse("host %q is not in the allowed hosts (--meeting-hosts)", h)
	}
	if slices.Contains(metadataNames, h.Name) {
		return nil, refuse("host %q is a cloud metadata service", h)
	}
	addrs := []netip.Addr{h.Addr}
	if !h.Addr.IsValid() {
		if addrs, err = p.resolve(ctx, h.Name); err != nil {
			return nil, err
		}
	}
	for _, a := range addrs {
		if err := p.checkAddr(h, a, named); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

func (p Policy) resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil || len(addrs) == 0 {
		return nil, refuse("host %q does not resolve", name)
	}
	return addrs, nil
}

// checkAddr refuses addresses that are not public unless the operator
// allowed them.
func (p Policy) checkAddr(h Host, a netip.Addr, named bool) error {
	class := Classify(a)
	if class == "" || p.inCIDR(a) {
		return nil
	}
	if named && (class == "loopback" || class == "private" || class == "shared") {
		return nil
	}
	if h.Name != "" {
		// The address itself is not shown: the message must not map an
		// internal network for whoever sends starts.
		return refuse("host %q resolves to %s address; allow it with --meeting-hosts", h, withArticle(class))
	}
	return refuse("host %q is %s address; allow it with --meeting-hosts", h, withArticle(class))
}

// withArticle is "a loopback", "an unspecified".
func withArticle(class string) string {
	if strings.ContainsAny(class[:1], "aeiou") {
		return "an " + class
	}
	return "a " + class
}

// Classify names the kind of a non-public address ("loopback", "private",
// "link-local", "unspecified", "multicast", "shared", "reserved") and
// returns "" for a public one. IPv4 inside IPv6 (mapped, NAT64, 6to4) is
// classified as the IPv4 address it carries.
func Classify(a netip.Addr) string {
	a = embedded(a.Unmap())
	switch {
	case a.IsUnspecified() || a.Is4() && a.As4()[0] == 0:
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "multicast"
	case a.IsPrivate():
		return "private"
	case inAny(a, shared):
		return "shared"
	case inAny(a, reserved) || !a.IsGlobalUnicast():
		return "reserved"
	}
	return ""
}

var (
	shared   = prefixes("100.64.0.0/10")
	reserved = prefixes("192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4", "2001::/32", "2001:db8::/32", "::/96", "100::/64")
	nat64    = prefixes("64:ff9b::/96", "64:ff9b:1::/48")
	sixTo4   = netip.MustParsePrefix("2002::/16")
)

// embedded returns the IPv4 address an IPv6 address carries for NAT64 or
// 6to4, or a unchanged.
func embedded(a netip.Addr) netip.Addr {
	if !a.Is6() {
		return a
	}
	b := a.As16()
	switch {
	case inAny(a, nat64):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return a
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

// restricted says whether Allow names hosts (then nothing else is allowed);
// a list of only CIDRs widens the addresses allowed and restricts no name.
func (p Policy) restricted() bool {
	return slices.ContainsFunc(p.Allow, func(e string) bool { _, ok := cidr(e); return !ok })
}

func (p Policy) named(h Host) bool {
	for _, e := range p.Allow {
		e = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(e), "*"))
		if _, ok := cidr(e); ok {
			continue
		}
		if eh, err := ParseHost(strings.TrimPrefix(e, ".")); err == nil && eh == h {
			return true
		}
		if h.Name != "" && strings.HasPrefix(e, ".") && strings.HasSuffix(h.Name, e) {
			return true
		}
	}
	return false
}

func (p Policy) inCIDR(a netip.Addr) bool {
	a = a.Unmap()
	for _, e := range p.Allow {
		if pre, ok := cidr(strings.TrimSpace(e)); ok && pre.Contains(a) {
			return true
		}
	}
	return false
}

// cidr reads an Allow entry that is a prefix ("10.0.0.0/8"); a bare address
// is a name entry, matched after canonicalization.
// parseSplitHost is ParseHost for a host split from its port, where an
// IPv6 address has lost its brackets.
func parseSplitHost(host string) (Host, error) {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return ParseHost(host)
}

func cidr(e string) (netip.Prefix, bool) {
	pre, err := netip.ParsePrefix(e)
	return pre.Masked(), err == nil
}

func (p Policy) isSelf(h Host, port string) bool {
	for _, s := range p.Self {
		host, sport, err := net.SplitHostPort(s)
		if err != nil || sport != port {
			continue
		}
		if sh, err := parseSplitHost(host); err == nil && sh == h {
			return true
		}
	}
	return false
}

// SelfOrigin turns a base URL ("http://127.0.0.1:7880") into the
// "host:port" form Self holds.
func SelfOrigin(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || defaultPorts[u.Scheme] == "" || u.Hostname() == "" {
		return "", fmt.Errorf("urlpolicy: %q is not an http(s) base URL", base)
	}
	port := u.Port()
	if port == "" {
		port = defaultPorts[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
