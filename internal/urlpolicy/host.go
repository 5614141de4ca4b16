package urlpolicy

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// errHost is a host a browser would not accept either.
var errHost = errors.New("not a valid host")

// whatwg is UTS 46 as the WHATWG URL standard's "domain to ASCII" runs it:
// nontransitional, STD3 rules off (the standard checks its own forbidden
// code points), bidi and joiner checks on. It maps full-width dots and
// digits and folds case, so "１２７。０。０。１" becomes "127.0.0.1".
var whatwg = idna.New(idna.MapForLookup(), idna.StrictDomainName(false), idna.Transitional(false),
	idna.BidiRule(), idna.CheckJoiners(true), idna.VerifyDNSLength(false))

// Host is a URL host read the way a browser reads it: a name in ASCII
// (punycode) form, or an address.
type Host struct {
	Name string     // lower-case ASCII; empty when the host is an address
	Addr netip.Addr // valid when the host is an IPv4 or IPv6 address
}

func (h Host) String() string {
	if h.Addr.IsValid() {
		return h.Addr.String()
	}
	return h.Name
}

// ParseHost canonicalizes a URL's host (without port) as the WHATWG URL
// standard's host parser does for http(s): brackets hold IPv6; otherwise
// percent-decoding, IDNA mapping, and then, when the name ends in a number,
// the IPv4 parser with its decimal, octal (leading 0) and hex (0x) parts and
// short forms ("0", "2852039166", "169.254.43518"). The result is what a
// browser would connect to, so address checks on it cannot be dodged by
// spelling.
func ParseHost(raw string) (Host, error) {
	if strings.HasPrefix(raw, "[") {
		if !strings.HasSuffix(raw, "]") || strings.Contains(raw, "%") {
			return Host{}, errHost
		}
		a, err := netip.ParseAddr(raw[1 : len(raw)-1])
		if err != nil || !a.Is6() {
			return Host{}, errHost
		}
		return Host{Addr: a}, nil
	}
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return Host{}, errHost
	}
	ascii, err := whatwg.ToASCII(decoded)
	if err != nil || ascii == "" {
		return Host{}, fmt.Errorf("%w: %v", errHost, err)
	}
	if strings.ContainsAny(ascii, forbiddenDomain) || hasControl(ascii) {
		return Host{}, errHost
	}
	if endsInNumber(ascii) {
		a, err := parseIPv4(ascii)
		if err != nil {
			return Host{}, err
		}
		return Host{Addr: a}, nil
	}
	return Host{Name: strings.TrimSuffix(ascii, ".")}, nil
}

// forbiddenDomain are the WHATWG forbidden domain code points (besides C0
// controls and DEL, checked by hasControl).
const forbiddenDomain = " #%/:<>?@[\\]^|"

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// endsInNumber is the standard's "ends in a number" check: the last label
// (ignoring one trailing dot) is all digits or parses as an IPv4 number.
func endsInNumber(s string) bool {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, err := parseIPv4Number(last)
	return err == nil
}

// parseIPv4 is the standard's IPv4 parser: up to four parts, every part but
// the last at most 255, the last filling the bytes that remain.
func parseIPv4(s string) (netip.Addr, error) {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return netip.Addr{}, errHost
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := parseIPv4Number(p)
		if err != nil {
			return netip.Addr{}, err
		}
		nums[i] = n
	}
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, errHost
		}
		v |= n << (8 * (3 - i))
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, errHost
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}

// parseIPv4Number reads one part: 0x… hex (possibly empty after the
// prefix), 0… octal, else decimal.
func parseIPv4Number(p string) (uint64, error) {
	if p == "" {
		return 0, errHost
	}
	base := 10
	switch {
	case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
		p, base = p[2:], 16
		if p == "" {
			return 0, nil
		}
	case len(p) >= 2 && p[0] == '0':
		p, base = p[1:], 8
	}
	if strings.ContainsAny(p, "+-_") {
		return 0, errHost
	}
	n, err := strconv.ParseUint(p, base, 64)
	if err != nil || n > 1<<32 {
		return 0, errHost
	}
	return n, nil
}
