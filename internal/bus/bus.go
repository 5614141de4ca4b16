// Package bus connects roomcast to NATS: an embedded nats-server with
// JetStream by default (no port opened unless asked), or an external NATS
// cluster when servers and workers run on several machines.
package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/logging"
)

// Config says which NATS to use.
type Config struct {
	// URL of an external NATS; empty runs an embedded server.
	URL string
	// Listen is where the embedded server accepts workers ("host:port");
	// empty opens no port (in-process connections only).
	Listen string
	// DataDir holds the embedded server's JetStream files (under nats/).
	DataDir string
	// Token authenticates to the embedded server and, when set, to URL.
	Token string
	// Name identifies this process's connection in NATS monitoring.
	Name string
}

// Bus is a connection to NATS with JetStream.
type Bus struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	srv *server.Server
}

// Open starts the embedded server if cfg.URL is empty, then connects.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Bus, error) {
	b := &Bus{}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	url := cfg.URL
	if url == "" {
		srv, err := embedded(cfg, log)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		url = srv.ClientURL()
		opts = append(opts, nats.InProcessServer(srv))
		if cfg.Listen != "" {
			log.Info("nats listening for workers", "addr", b.ListenAddr())
		}
	}
	nc, err := connect(ctx, url, opts)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.NC = nc
	if b.JS, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return b, nil
}

// connect retries until ctx ends: an external NATS may start after us.
func connect(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bus: connect to nats: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func embedded(cfg Config, log *slog.Logger) (*server.Server, error) {
	o := &server.Options{
		ServerName:    "roomcast",
		JetStream:     true,
		StoreDir:      filepath.Join(cfg.DataDir, "nats"),
		DontListen:    cfg.Listen == "",
		NoSigs:        true,
		NoLog:         true,
		Authorization: cfg.Token,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus: --nats-listen %q: %w", cfg.Listen, err)
		}
		o.Host = host
		if o.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("bus: --nats-listen port %q: %w", port, err)
		}
		if o.Port == 0 {
			o.Port = server.RANDOM_PORT
		}
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded nats: %w", err)
	}
	srv.SetLoggerV2(logging.NATSLogger(log), log.Enabled(context.Background(), slog.LevelDebug), false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("bus: embedded nats did not start within 10s")
	}
	return srv, nil
}

// ListenAddr is where the embedded server accepts workers, or "".
func (b *Bus) ListenAddr() string {
	if b.srv == nil {
		return ""
	}
	if a, ok := b.srv.Addr().(*net.TCPAddr); ok {
		return a.String()
	}
	return ""
}

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() {
	if b.NC != nil {
		b.NC.Drain()
		b.NC.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}
