// Package config holds roomcast's configuration: defaults that work with no
// flags, flags and environment, and validation that reports every problem.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
)

// Config is the configuration of `roomcast serve`.
type Config struct {
	Addr       string // HTTP listen address
	DataDir    string // secret, recordings
	PublicURL  string // how browsers reach this server; derived from requests when empty
	RTCUDPPort int    // the one UDP port for media; 0 picks a free port
	PublicIPs  []string
	LogFormat  string
	LogLevel   slog.Level

	NATSURL      string   // external NATS; empty embeds one
	NATSListen   string   // where the embedded NATS accepts workers; empty opens no port
	WorkerSlots  int      // jobs the local worker runs at once; 0 runs no local worker
	MeetingHosts []string // allowlist of meeting URL hosts; empty allows any
	WebhookURLs  []string // where events are POSTed
	// WebhookSecret signs the events (ROOMCAST_WEBHOOK_SECRET); empty:
	// the server's secret.
	WebhookSecret logging.Secret
	RecordTracks  bool // SFU-record every room's tracks from when it opens
	// DrainTimeout is how long a draining server (SIGTERM) keeps serving
	// its rooms before it moves them to another server.
	DrainTimeout time.Duration

	Jobs // the local worker's jobs; recordings go to Jobs.S3 when set
	// Settings is every flag's effective value and its source (config
	// print).
	Settings Effective
}

// Default returns a configuration that runs everything on one machine.
func Default() Config {
	return Config{
		Addr:         ":7880",
		DataDir:      "./roomcast-data",
		RTCUDPPort:   7882,
		LogFormat:    "text",
		LogLevel:     slog.LevelInfo,
		WorkerSlots:  1,
		DrainTimeout: 60 * time.Second,
		Jobs:         defaultJobs(),
	}
}

// Load loads serve's settings (parse: flags over ROOMCAST_* environment
// over --config file) over Default and validates the result, reporting
// every problem at once.
func Load(args []string) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address (signaling, API, meeting app); its host, if any, also binds the media UDP port")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory: secret and recordings")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL the bot (and remote workers' bots) open this server's meeting app at (default: the listen address)")
	fs.IntVar(&c.RTCUDPPort, "rtc-udp-port", c.RTCUDPPort, "UDP port for all WebRTC media; 0 picks a free port")
	publicIPs := fs.String("rtc-public-ips", "", "comma-separated IPs to announce for media (1:1 NAT)")
	logFlags(fs, &c.LogFormat, &c.LogLevel)
	fs.StringVar(&c.NATSURL, "nats", "", "external NATS URL (default: embedded NATS)")
	fs.StringVar(&c.NATSListen, "nats-listen", "", "address where the embedded NATS accepts workers, e.g. :4222 (default: no port)")
	fs.IntVar(&c.WorkerSlots, "worker-slots", c.WorkerSlots, "jobs the local worker runs at once; 0 runs no local worker")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM, with other servers on the same NATS: how long this server's rooms go on before their peers are sent to another server (no new rooms are placed here meanwhile)")
	fs.BoolVar(&c.RecordTracks, "record-tracks", c.RecordTracks, "record every track of every room to its own file (SFU recording) from when the room opens until it closes")
	fs.Func("webhook-url", "POST events to this URL (repeatable), signed with ROOMCAST_WEBHOOK_SECRET (default: the server's secret)", func(v string) error {
		c.WebhookURLs = append(c.WebhookURLs, v)
		return nil
	})
	jobFlags(fs, &c.Jobs)
	meetingHosts := fs.String("meeting-hosts", "", "comma-separated hosts, addresses or CIDRs the bot may open (.example.com allows subdomains; names listed may be private or loopback; default: any public address, plus this server)")
	var err error
	if c.Settings, err = load(fs, args); err != nil {
		return c, err
	}
	c.WebhookSecret = logging.Secret(os.Getenv("ROOMCAST_WEBHOOK_SECRET"))
	if *meetingHosts != "" {
		c.MeetingHosts = strings.Split(*meetingHosts, ",")
	}
	if *publicIPs != "" {
		c.PublicIPs = strings.Split(*publicIPs, ",")
	}
	return c, errors.Join(c.Settings.problems, c.Validate())
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if host, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: %w", c.Addr, err))
	} else if ip := net.ParseIP(host); ip != nil && ip.To4() == nil && !ip.IsUnspecified() {
		// The media socket binds --addr's host too (app.mediaAddr), and it
		// is IPv4 only.
		errs = append(errs, fmt.Errorf("--addr %q: the media UDP port binds the same host and is IPv4 only; use an IPv4 address, a host name or no host", c.Addr))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if c.RTCUDPPort < 0 || c.RTCUDPPort > 65535 {
		errs = append(errs, fmt.Errorf("--rtc-udp-port %d: want 0 to 65535", c.RTCUDPPort))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--public-url %q: want http(s)://host[:port]", c.PublicURL))
		}
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(strings.TrimSpace(ip)) == nil {
			errs = append(errs, fmt.Errorf("--rtc-public-ips: %q is not an IP address", ip))
		}
	}
	if c.NATSURL != "" && c.NATSListen != "" {
		errs = append(errs, errors.New("--nats-listen applies to the embedded NATS; it cannot be used with --nats"))
	}
	if c.NATSListen != "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("--nats-listen %q: %w", c.NATSListen, err))
		}
	}
	for _, u := range c.WebhookURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("--webhook-url %q: want http(s)://host/path", u))
		}
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("--drain-timeout %v: want 0 or more", c.DrainTimeout))
	}
	if c.WorkerSlots < 0 {
		errs = append(errs, fmt.Errorf("--worker-slots %d: want 0 or more", c.WorkerSlots))
	}
	errs = append(errs, validateLogFormat(c.LogFormat)...)
	errs = append(errs, c.Jobs.validate()...)
	return errors.Join(errs...)
}
