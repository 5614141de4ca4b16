package urlpolicy

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// The host forms of issue 13 finding 2: each is what a browser reads as
// the address on the right.
func TestParseHostReadsAddressesAsABrowserDoes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2852039166", "169.254.169.254"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"0xa9fea9fe", "169.254.169.254"},
		{"0251.0376.0251.0376", "169.254.169.254"},
		{"169.254.43518", "169.254.169.254"},
		{"169.16689662", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"0x0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"127.1", "127.0.0.1"},
		{"127.0.0.1.", "127.0.0.1"},
		{"[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe"},
		{"[::ffff:169.254.169.254]", "::ffff:169.254.169.254"},
		{"169。254。169。254", "169.254.169.254"},
		{"１６９．２５４．１６９．２５４", "169.254.169.254"},
		{"%31%32%37.0.0.1", "127.0.0.1"},
		{"LOCALHOST", "localhost"},
		{"Meet.Example.COM.", "meet.example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"my_host.internal", "my_host.internal"},
	} {
		h, err := ParseHost(tc.in)
		if err != nil {
			t.Errorf("ParseHost(%q): %v", tc.in, err)
			continue
		}
		if got := h.String(); got != tc.want {
			t.Errorf("ParseHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"1.2.3.4.5", "256.1.1.1", "1.2.3.0x100000000", "09", "a b", "ex%2fample", "[::1", "[fe80::1%25eth0]", "4294967296", ""} {
		if h, err := ParseHost(bad); err == nil {
			t.Errorf("ParseHost(%q) = %v, want an error", bad, h)
		}
	}
}

type fakeDNS map[string]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

var dns = fakeDNS{
	"meet.example.com": "203.0.113.7", "evil.example": "169.254.169.254", "intranet.example": "10.1.2.3",
	"rebind.example": "127.0.0.1", "public.example": "8.8.8.8",
}

func TestCheckURLRefusesWhatIsNotPublic(t *testing.T) {
	open := Policy{Resolver: dns, Self: []string{"127.0.0.1:7880"}}
	for _, tc := range []struct {
		pol  Policy
		url  string
		want string // "" allowed, else part of the refusal
	}{
		{open, "https://public.example/r", ""},
		{open, "http://8.8.8.8/", ""},
		{open, "http://127.0.0.1:7880/meet/r?token=x", ""},
		{open, "http://127.1:7880/meet/r", ""},
		{open, "ws://127.0.0.1:7880/rtc", ""},
		{open, "http://127.0.0.1:7881/", "loopback"},
		{open, "http://localhost:22/", "does not resolve"},
		{open, "http://2852039166/", "link-local"},
		{open, "http://0xa9.0xfe.0xa9.0xfe/", "link-local"},
		{open, "http://0251.0376.0251.0376/", "link-local"},
		{open, "http://169.254.43518/", "link-local"},
		{open, "http://0/", "is an unspecified address"},
		{open, "http://0x0/", "unspecified"},
		{open, "http://[64:ff9b::a9fe:a9fe]/", "link-local"},
		{open, "http://[2002:a9fe:a9fe::1]/", "link-local"},
		{open, "http://[::ffff:127.0.0.1]/", "loopback"},
		{open, "http://169。254。169。254/", "link-local"},
		{open, "http://１６９．２５４．１６９．２５４/", "link-local"},
		{open, "http://10.0.0.1/", "private"},
		{open, "http://[fd00:ec2::254]/", "private"},
		{open, "http://100.100.100.200/", "shared"},
		{open, "http://evil.example/", "resolves to a link-local address"},
		{open, "http://intranet.example/", "private"},
		{open, "http://nowhere.invalid/", "does not resolve"},
		{open, "http://metadata.google.internal/", "metadata"},
		{open, "file:///etc/passwd", "scheme"},
		{open, "https://u:p@public.example/", "user:password"},
		{Policy{Resolver: dns, Allow: []string{"intranet.example"}}, "http://intranet.example/", ""},
		{Policy{Resolver: dns, Allow: []string{"intranet.example"}}, "http://public.example/", "not in the allowed hosts"},
		{Policy{Resolver: dns, Allow: []string{".example"}}, "http://evil.example/", "link-local"},
		{Policy{Resolver: dns, Allow: []string{"10.0.0.0/8"}}, "http://intranet.example/", ""},
		{Policy{Resolver: dns, Allow: []string{"10.0.0.0/8"}}, "http://public.example/", ""},
		{Policy{Resolver: dns, Allow: []string{"10.0.0.0/8"}}, "http://127.0.0.1/", "loopback"},
		{Policy{Resolver: dns, Allow: []string{"127.0.0.1"}}, "http://0x7f000001:9000/", ""},
		{Policy{Resolver: dns, Allow: []string{"169.254.169.254"}}, "http://2852039166/", "link-local"},
	} {
		err := tc.pol.CheckURL(context.Background(), tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.url, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: allowed, want a refusal with %q", tc.url, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want %q in it", tc.url, err, tc.want)
		}
	}
}

// CheckHost hands back the addresses it checked, so the dialer connects to
// exactly those and a name cannot change its answer in between.
func TestCheckHostReturnsTheAddressesToDial(t *testing.T) {
	addrs, err := Policy{Resolver: dns}.CheckHost(context.Background(), "meet.example.com", "443")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "203.0.113.7" {
		t.Fatalf("got %v, %v", addrs, err)
	}
}

func TestSelfOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:7880": "127.0.0.1:7880", "https://meet.example.com": "meet.example.com:443",
		"http://[::1]:80/": "[::1]:80",
	} {
		if got, err := SelfOrigin(in); err != nil || got != want {
			t.Errorf("SelfOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
