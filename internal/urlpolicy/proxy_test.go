package urlpolicy

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func startProxy(t *testing.T) (*Proxy, *http.Client) {
	t.Helper()
	p, err := StartProxy(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	pu, _ := url.Parse(p.URL())
	return p, &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu),
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The proxy lets the browser reach the server's own origin and nothing
// internal: not another loopback port, not a redirect to one, not a name
// that resolves to one, not an https (CONNECT) target, and nothing at all
// before it has a policy.
func TestProxyEnforcesThePolicyOnEveryConnection(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "internal secret") }))
	defer other.Close()
	self := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
			return
		}
		io.WriteString(w, "meeting page")
	}))
	defer self.Close()
	tlsOther := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "tls secret") }))
	defer tlsOther.Close()

	p, c := startProxy(t)
	if code, body := get(t, c, self.URL+"/"); code != http.StatusForbidden || !strings.Contains(body, "no URL policy") {
		t.Errorf("before SetPolicy: %d %q, want 403", code, body)
	}
	origin, _ := SelfOrigin(self.URL)
	p.SetPolicy(Policy{Self: []string{origin}, Resolver: fakeDNS{"rebind.example": "127.0.0.1"}})

	if code, body := get(t, c, self.URL+"/"); code != 200 || body != "meeting page" {
		t.Errorf("own origin: %d %q", code, body)
	}
	for name, u := range map[string]string{
		"other port":     other.URL + "/",
		"redirect":       self.URL + "/redirect",
		"name to loop":   "http://rebind.example:" + url.PathEscape(portOf(other.URL)) + "/",
		"hex loopback":   "http://0x7f000001:" + portOf(other.URL) + "/",
		"https (tunnel)": tlsOther.URL + "/",
	} {
		code, body := get(t, c, u)
		if strings.Contains(body, "secret") || code == 200 {
			t.Errorf("%s: reached it: %d %q", name, code, body)
		}
	}
}

func portOf(u string) string {
	pu, _ := url.Parse(u)
	return pu.Port()
}

// A tunnel to the server's own origin works (the meeting page's WebSocket
// goes through one).
func TestProxyTunnelsToAllowedHosts(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "over tls") }))
	defer srv.Close()
	p, c := startProxy(t)
	origin, _ := SelfOrigin(srv.URL)
	p.SetPolicy(Policy{Self: []string{strings.Replace(origin, "https", "", 1)}})
	if code, body := get(t, c, srv.URL+"/"); code != 200 || body != "over tls" {
		t.Errorf("got %d %q", code, body)
	}
}
