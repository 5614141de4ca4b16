// Package app wires roomcast's components together and starts and stops
// them in order. It holds no logic of its own.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/metrics"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/signal"
	"github.com/roomcast/roomcast/internal/web"
)

// shutdownTimeout bounds draining HTTP connections on stop.
const shutdownTimeout = 5 * time.Second

// App is a running roomcast server.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	ln     net.Listener
	sfu    *sfu.SFU
	signer *auth.Signer
	srv    *http.Server
}

// New builds the server and opens its sockets, so Addr and UDPAddr are known
// before Run.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	secret, err := auth.LoadSecret(cfg.DataDir, true)
	if err != nil {
		return nil, err
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		return nil, err
	}
	media, err := sfu.New(sfu.Config{UDPAddr: ":" + strconv.Itoa(cfg.RTCUDPPort), PublicIPs: cfg.PublicIPs}, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		media.Close()
		return nil, fmt.Errorf("app: listen %s: %w", cfg.Addr, err)
	}
	a := &App{cfg: cfg, log: log, ln: ln, sfu: media, signer: signer}
	a.srv = &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	return a, nil
}

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", metrics.Handler(a.sfu))
	mux.Handle("GET /rtc", signal.NewHandler(a.sfu, a.signer, a.log))
	web.Register(mux)
	return mux
}

// Addr returns the HTTP address the server listens on.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Signer returns the token signer (tests and tools mint tokens with it).
func (a *App) Signer() *auth.Signer { return a.signer }

// Run serves until ctx is done, then drains connections and closes the SFU.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("listening", "addr", a.ln.Addr().String(), "rtc_udp", a.sfu.UDPAddr().String(), "data", a.cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	a.sfu.Close() // ends peer sessions so their sockets close promptly
	if serr := a.srv.Shutdown(shutCtx); serr != nil {
		a.srv.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	a.log.Info("stopped")
	return err
}
