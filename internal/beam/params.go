// Package beam holds the rules of streaming and recording a room: which
// start parameters are valid, what a start or stop does to the room's state
// (the seed's rules), and the job a worker runs. It does no I/O of its own
// beyond an optional DNS lookup for the meeting URL check.
package beam

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/streamurl"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// MaxDestinations is the most RTMP URLs one start may name.
const MaxDestinations = 3

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// MaxJobDuration is the longest maxDuration a start may ask for when the
// server sets no cap of its own.
const MaxJobDuration = 24 * time.Hour

// Policy is the server's part of start validation: which meeting URLs a bot
// may open and how long a job may last.
type Policy struct {
	// AllowedHosts, when set, are the only hosts allowed: "meet.example.com"
	// matches that host, ".example.com" any host under it.
	AllowedHosts []string
	// Resolver, when set, resolves host names so names that point at
	// link-local or metadata addresses are refused too.
	Resolver Resolver
	// MaxDuration is the most a start's maxDuration may ask for (the
	// server's --max-duration); zero means MaxJobDuration.
	MaxDuration time.Duration
}

// metadataHosts are cloud metadata service names.
var metadataHosts = []string{"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}

// Validate checks p against SPEC §2 and returns it normalised (default
// resolution filled in). Every error is invalid_argument and names the field;
// stream keys never appear in messages.
func Validate(ctx context.Context, p roomcast.StartParams, pol Policy) (roomcast.StartParams, error) {
	if len(p.RTMPURLs) == 0 && !p.Record {
		return p, invalid("nothing to start: give rtmpURLs (streaming), record: true (recording), or both")
	}
	if err := validateRTMPURLs(p.RTMPURLs); err != nil {
		return p, err
	}
	if p.Resolution == nil {
		r := roomcast.DefaultResolution
		p.Resolution = &r
	}
	if err := validateResolution(*p.Resolution); err != nil {
		return p, err
	}
	if err := validateMaxDuration(p.MaxDuration, pol.MaxDuration); err != nil {
		return p, err
	}
	if p.MeetingURL != "" {
		if err := pol.Check(ctx, p.MeetingURL); err != nil {
			return p, err
		}
	}
	return p, nil
}

func invalid(format string, args ...any) error {
	return rcerr.New(rcerr.InvalidArgument, format, args...)
}

func validateRTMPURLs(urls []string) error {
	if len(urls) > MaxDestinations {
		return invalid("rtmpURLs: at most %d URLs, got %d", MaxDestinations, len(urls))
	}
	seen := map[string]int{}
	for i, raw := range urls {
		field := fmt.Sprintf("rtmpURLs[%d]", i)
		if _, err := streamurl.Parse(raw); err != nil {
			// The message names the URL only redacted: it may hold a key.
			return invalid("%s: %v (%s)", field, err, streamurl.Redact(raw))
		}
		if j, dup := seen[raw]; dup {
			return invalid("%s: same URL as rtmpURLs[%d]", field, j)
		}
		seen[raw] = i
	}
	return nil
}

func validateResolution(r roomcast.Resolution) error {
	w, h := r.Width, r.Height
	if w%2 != 0 || h%2 != 0 {
		return invalid("resolution: width and height must be even, got %dx%d", w, h)
	}
	if w >= h {
		if w < 480 || w > 1920 || h < 270 || h > 1080 {
			return invalid("resolution: landscape %dx%d is out of bounds; width 480–1920, height 270–1080", w, h)
		}
		return nil
	}
	if w < 270 || w > 1080 || h < 480 || h > 1920 {
		return invalid("resolution: portrait %dx%d is out of bounds; width 270–1080, height 480–1920", w, h)
	}
	return nil
}

// validateMaxDuration checks a start's maxDuration (seconds; 0 is unset)
// against the server's cap.
func validateMaxDuration(sec int, limit time.Duration) error {
	if limit <= 0 {
		limit = MaxJobDuration
	}
	if sec < 0 {
		return invalid("maxDuration: must be a positive number of seconds, got %d", sec)
	}
	if most := int64(limit / time.Second); int64(sec) > most {
		return invalid("maxDuration: %d seconds is more than this server allows (%d seconds, --max-duration)", sec, most)
	}
	return nil
}

// Check refuses meeting URLs a bot must not open: other schemes than http(s),
// link-local and metadata addresses, and hosts outside the allowlist.
func (pol Policy) Check(ctx context.Context, raw string) error {
	if len(raw) > 4096 {
		return invalid("meetingURL: longer than 4096 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return invalid("meetingURL: not an absolute URL; want http(s)://host/path")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("meetingURL: scheme must be http or https, got %q", u.Scheme)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return invalid("meetingURL: no host")
	}
	if u.User != nil {
		return invalid("meetingURL: user:password in the URL is not allowed")
	}
	if len(pol.AllowedHosts) > 0 && !pol.allowed(host) {
		return invalid("meetingURL: host %q is not in the allowed hosts (--meeting-hosts)", host)
	}
	if slices.Contains(metadataHosts, host) {
		return invalid("meetingURL: host %q is a cloud metadata service", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkAddr(ip, host)
	}
	if pol.Resolver == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := pol.Resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil // unresolvable here; the worker's browser will report it
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			if err := checkAddr(ip.Unmap(), host); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkAddr(ip netip.Addr, host string) error {
	ip = ip.Unmap()
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip == netip.MustParseAddr("fd00:ec2::254") {
		return invalid("meetingURL: host %q is a link-local or metadata address", host)
	}
	if ip.IsUnspecified() || ip.IsMulticast() {
		return invalid("meetingURL: host %q is not a unicast address", host)
	}
	return nil
}

func (pol Policy) allowed(host string) bool {
	for _, a := range pol.AllowedHosts {
		a = strings.ToLower(strings.TrimSpace(a))
		a = strings.TrimPrefix(a, "*")
		if host == a || (strings.HasPrefix(a, ".") && strings.HasSuffix(host, a)) {
			return true
		}
	}
	return false
}
