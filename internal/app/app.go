// Package app wires roomcast's components together and starts and stops
// them in order. It holds no logic of its own.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/activity"
	"github.com/roomcast/roomcast/internal/api"
	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/control"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/metrics"
	"github.com/roomcast/roomcast/internal/procstat"
	"github.com/roomcast/roomcast/internal/rooms"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/signal"
	"github.com/roomcast/roomcast/internal/trackrec"
	"github.com/roomcast/roomcast/internal/web"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// shutdownTimeout bounds draining HTTP connections on stop.
const shutdownTimeout = 5 * time.Second

// maxTrackJobs bounds the rooms one server records the tracks of at once.
const maxTrackJobs = 1000

// App is a running roomcast server.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	ln     net.Listener
	sfu    *sfu.SFU
	signer *auth.Signer
	srv    *http.Server
	bus    *bus.Bus
	ctl    *control.Controller
	work   *work // the local worker (none with --worker-slots 0) and the recordings
	tracks *trackrec.Manager
	// trackJobs runs this server's track recording jobs (its SFU's rooms).
	trackJobs *control.Worker
	events    *webhook.Publisher
	hooks     []*webhook.Deliverer
	sig       *signal.Handler
	rooms     *rooms.Directory // which server each room lives on
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
	media, err := sfu.New(sfu.Config{UDPAddr: mediaAddr(cfg.Addr, cfg.RTCUDPPort), PublicIPs: cfg.PublicIPs}, log)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, sfu: media, signer: signer}
	if a.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		a.close()
		return nil, fmt.Errorf("app: listen %s: %w", cfg.Addr, err)
	}
	if err := a.openControl(secret); err != nil {
		a.close()
		return nil, err
	}
	a.srv = newHTTPServer(a.routes(), defaultLimits)
	return a, nil
}

// openControl connects to NATS (embedded unless --nats) and builds the
// control plane and the local worker.
func (a *App) openControl(secret []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{URL: a.cfg.NATSURL, Listen: a.cfg.NATSListen, DataDir: a.cfg.DataDir,
		Token: auth.Derive(secret, "nats"), Name: "roomcast-serve"}, a.log)
	if err != nil {
		return err
	}
	a.bus = b
	if a.events, err = webhook.NewPublisher(ctx, b.JS, a.log); err != nil {
		return err
	}
	hookSecret := secret
	if a.cfg.WebhookSecret != "" {
		hookSecret = []byte(a.cfg.WebhookSecret)
	}
	for _, u := range a.cfg.WebhookURLs {
		d, err := webhook.NewDeliverer(ctx, b.JS, u, hookSecret, a.log)
		if err != nil {
			return err
		}
		a.hooks = append(a.hooks, d)
	}
	id := serverID()
	a.work, err = newWork(ctx, workConfig{DataDir: a.cfg.DataDir, Jobs: a.cfg.Jobs, Slots: a.cfg.WorkerSlots, Owner: id,
		MeetingApp: composite.MeetingApp{Base: a.botURL(), Policy: a.urlPolicy()}}, b, a.events, a.log)
	if err != nil {
		return err
	}
	a.tracks = trackrec.NewManager(a.sfu, a.work.runner.Recordings, a.log)
	a.tracks.Keep = a.work.keep
	a.trackJobs, err = control.NewWorker(ctx, b.NC, b.JS, control.WorkerOptions{ID: id, Kind: jobs.KindTracks, Slots: maxTrackJobs,
		Events: a.events, ShutdownReason: control.ReasonShutdown}, a.tracks, a.log)
	if err != nil {
		return err
	}
	if a.rooms, err = a.openRooms(ctx, id); err != nil {
		return err
	}
	a.ctl, err = control.New(ctx, b.NC, b.JS, a.signer, control.Options{
		Policy:        jobs.Policy{URLs: a.urlPolicy(), MaxDuration: a.cfg.MaxDuration},
		BotURL:        a.botURL(),
		OnChange:      func(room string, st roomcast.BeamState, rev uint64) { a.sig.PushState(room, st, rev) },
		Events:        a.events,
		RecordsTracks: true,
		ServerID:      id,
		Costs:         a.cfg.Jobs.Costs,
		Fleet:         a.rooms.Origins,
		RoomServer: func(ctx context.Context, room string) (string, error) {
			rt, err := a.rooms.Locate(ctx, room)
			return rt.Owner, err
		},
	}, a.log)
	if err != nil {
		return err
	}
	a.sig = signal.NewHandler(a.sfu, a.signer, a.ctl, a.log).WithRouter(a.rooms)
	if a.cfg.RecordTracks {
		a.sfu.OnRooms(func(room string) {
			if _, err := a.ctl.StartTracks(context.Background(), room); err != nil {
				a.log.Warn("automatic track recording did not start", "room", room, "err", err)
			}
		}, func(room string) { a.ctl.RoomClosed(context.Background(), room) })
	}
	return nil
}

// openRooms joins the fleet's room directory: this server's rooms are the
// SFU's and those it records the tracks of; a room that moves sends its
// peers to its new server.
func (a *App) openRooms(ctx context.Context, id string) (*rooms.Directory, error) {
	var busy procstat.Busy // the machine's busy cores between announcements
	return rooms.Open(ctx, a.bus.NC, a.bus.JS, rooms.Options{
		ID: id, URL: a.botURL(),
		Load: func() rooms.Load {
			r, p, t, f := a.sfu.Load()
			return rooms.Load{Rooms: r, Peers: p, Tracks: t, Forwarded: f, CPU: busy.Sample()}
		},
		Open: func() []string {
			open := a.sfu.RoomNames()
			for _, r := range a.tracks.Rooms() {
				if !slices.Contains(open, r) {
					open = append(open, r)
				}
			}
			return open
		},
		Peers: func() map[string][]rooms.Peer {
			out := map[string][]rooms.Peer{}
			for room, peers := range a.sfu.Rooms() {
				out[room] = []rooms.Peer{}
				for _, p := range peers {
					out[room] = append(out[room], rooms.Peer{ID: p.ID, Identity: p.Identity, Role: string(p.Role)})
				}
			}
			return out
		},
		Moved: func(room, url string) { a.sig.Move(room, url) },
	}, a.log)
}

// listRooms is GET /v1/rooms: every room server's rooms with their
// visible peers.
func (a *App) listRooms(ctx context.Context) []roomcast.Room {
	live := a.rooms.Rooms(ctx)
	out := make([]roomcast.Room, 0, len(live))
	for room, peers := range live {
		r := roomcast.Room{Room: room, Peers: make([]roomcast.RoomPeer, 0, len(peers))}
		for _, p := range peers {
			r.Peers = append(r.Peers, roomcast.RoomPeer(p))
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y roomcast.Room) int { return strings.Compare(x.Room, y.Room) })
	return out
}

// close releases what New opened, in reverse order.
func (a *App) close() {
	if a.ln != nil {
		a.ln.Close()
	}
	if a.rooms != nil {
		a.rooms.Close()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	a.sfu.Close()
}

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	var w metrics.Worker // none with --worker-slots 0
	if a.work.worker != nil {
		w = a.work.worker
	}
	mux.Handle("GET /metrics", metrics.Handler(a.sfu, w))
	mux.Handle("GET /rtc", a.sig)
	v1 := api.New(a.ctl, api.RoomsFunc(func(room string) bool { return a.sfu.Has(room) || a.rooms.Placed(room) }), a.signer, a.log).
		WithRecordings(a.work.index).WithWorkers(a.ctl).WithRoomList(a.listRooms).WithDestinations(a.ctl).WithThumbnails(a.ctl).
		WithLoopbackSession(loopbackOnly(a.ln.Addr()))
	if a.work.s3 != nil {
		v1.WithRemoteFiles(a.work.s3)
	}
	v1.Register(mux)
	web.Register(mux)
	return mux
}

// loopbackOnly says whether addr can be reached from this machine only.
func loopbackOnly(addr net.Addr) bool {
	t, ok := addr.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// Addr returns the HTTP address the server listens on.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// UDPAddr returns the address of the media socket: --rtc-udp-port on the
// host of --addr, or on every interface when --addr names none.
func (a *App) UDPAddr() net.Addr { return a.sfu.UDPAddr() }

// Signer returns the token signer (tests and tools mint tokens with it).
func (a *App) Signer() *auth.Signer { return a.signer }

// Run serves until ctx is done, then drains connections and closes the SFU.
func (a *App) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	a.tracks.Recover() // tracks recordings a killed server left behind
	tracksCtx, stopTracks := context.WithCancel(bg)
	var trackJobs sync.WaitGroup
	trackJobs.Go(func() { a.trackJobs.Run(tracksCtx) })
	wg.Go(func() { a.ctl.Run(bg) })
	for _, d := range a.hooks {
		wg.Go(func() { d.Run(bg) })
	}
	wg.Go(func() { a.work.run(bg) })
	wg.Go(func() { activity.Publish(bg, a.bus.NC, a.sfu, a.log) }) // what each room's SFU receives, for beam monitors
	roomsCtx, stopRooms := context.WithCancel(bg)
	var roomsDone sync.WaitGroup
	roomsDone.Go(func() { a.rooms.Run(roomsCtx) })
	a.log.Info("listening", "addr", a.ln.Addr().String(), "rtc_udp", a.sfu.UDPAddr().String(),
		"nats", a.bus.ListenAddr(), "data", a.cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	// Draining: no new rooms here; this server's rooms go on until they
	// empty or --drain-timeout, then move to another server.
	a.rooms.Drain(context.WithoutCancel(ctx), a.cfg.DrainTimeout)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	stopTracks() // its track recordings end (stopped: the server shut down) before the SFU closes the rooms
	trackJobs.Wait()
	a.sfu.Close() // ends peer sessions so their sockets close promptly
	if serr := a.srv.Shutdown(shutCtx); serr != nil {
		a.srv.Close()
	}
	a.sig.Wait() // peers' starts and stops still in flight finish first
	stopRooms()  // this server's rooms are given up: the next join places them elsewhere
	roomsDone.Wait()
	stopBG() // the worker ends its jobs and records how they ended
	wg.Wait()
	a.tracks.Close()
	a.work.finish() // recordings being finalized and uploaded
	a.bus.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	a.log.Info("stopped")
	return err
}

// serverID names this server process in the room state: host name and a
// random suffix (a restarted server is another process; the sessions of the
// old one fail when its heartbeats stop).
func serverID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}
