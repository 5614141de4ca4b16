package app

import (
	"net"
	"slices"
	"strings"

	"github.com/roomcast/roomcast/internal/urlpolicy"
)

// botURL is the base URL the bot opens this server's meeting app on:
// --public-url, else the address the server listens on (loopback when it
// listens on every interface). It never comes from a request.
func (a *App) botURL() string {
	if a.cfg.PublicURL != "" {
		return strings.TrimSuffix(a.cfg.PublicURL, "/")
	}
	return "http://" + listenURLHost(a.ln.Addr())
}

// listenURLHost is host:port for a listener, with an unspecified host
// replaced by loopback.
func listenURLHost(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// urlPolicy is what the bot's browser may load: the --meeting-hosts, and
// this server itself (its public URL and its listen address).
func (a *App) urlPolicy() urlpolicy.Policy {
	pol := urlpolicy.Policy{Allow: a.cfg.MeetingHosts}
	for _, base := range []string{a.botURL(), "http://" + listenURLHost(a.ln.Addr())} {
		if o, err := urlpolicy.SelfOrigin(base); err == nil && !slices.Contains(pol.Self, o) {
			pol.Self = append(pol.Self, o)
		}
	}
	return pol
}
