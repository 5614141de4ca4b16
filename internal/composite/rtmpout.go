package composite

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/streamurl"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// DestinationOptions tune reconnection.
type DestinationOptions struct {
	// GiveUp: a destination that has not been connected for this long is
	// failed and no longer retried. Default 60 s.
	GiveUp time.Duration
	// MaxBackoff caps the wait between attempts. Default 5 s.
	MaxBackoff time.Duration
}

// destination publishes the stream to one RTMP(S) URL on its own
// connection, reconnecting with backoff; its state changes are reported
// through onChange.
type destination struct {
	index    int
	rawURL   string // secret: the stream key is in it
	redacted string
	key      string
	opts     DestinationOptions
	frames   chan frame
	fan      *Fanout
	log      *slog.Logger
	onChange func()

	mu    sync.Mutex
	state roomcast.DestinationState
	err   *roomcast.Error
}

func newDestination(i int, raw string, fan *Fanout, opts DestinationOptions, log *slog.Logger, onChange func()) *destination {
	if opts.GiveUp == 0 {
		opts.GiveUp = 60 * time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	red := logging.RedactStreamURL(raw)
	d := &destination{index: i, rawURL: raw, redacted: red, opts: opts, fan: fan,
		frames: make(chan frame, 512), log: log.With("destination", red), onChange: onChange,
		state: roomcast.DestinationStarting}
	if u, err := streamurl.Parse(raw); err == nil {
		d.key = u.Key
	}
	fan.add(d.frames)
	return d
}

// status is the destination as the state shows it.
func (d *destination) status() roomcast.Destination {
	d.mu.Lock()
	defer d.mu.Unlock()
	return roomcast.Destination{URL: d.redacted, State: d.state, Error: d.err}
}

func (d *destination) set(state roomcast.DestinationState, err error) {
	d.mu.Lock()
	d.state, d.err = state, nil
	if err != nil {
		d.err = &roomcast.Error{Code: "destination", Message: d.scrub(err.Error())}
	}
	d.mu.Unlock()
	d.onChange()
}

// scrub removes the stream key from a message, whatever its shape.
func (d *destination) scrub(s string) string {
	if d.key != "" {
		s = strings.ReplaceAll(s, d.key, "{…}")
	}
	return logging.Redact(s)
}

// run publishes until ctx ends (then flushes what is queued) or the
// destination gives up.
func (d *destination) run(ctx context.Context) {
	lastUp := time.Now()
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := d.session(ctx, &lastUp)
		if ctx.Err() != nil {
			d.set(roomcast.DestinationStopped, nil)
			return
		}
		if time.Since(lastUp) > d.opts.GiveUp {
			d.log.Warn("destination failed; giving up", "err", d.scrub(err.Error()))
			d.set(roomcast.DestinationFailed, fmt.Errorf("no connection for %v: %s", d.opts.GiveUp, d.scrub(err.Error())))
			return
		}
		d.log.Info("destination down; reconnecting", "err", d.scrub(err.Error()), "in", backoff)
		d.set(roomcast.DestinationReconnecting, err)
		select {
		case <-ctx.Done():
			d.set(roomcast.DestinationStopped, nil)
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, d.opts.MaxBackoff)
	}
}

// gortmplibURL moves the stream key (last path segment, with any query)
// into the fragment, where gortmplib expects it.
func gortmplibURL(raw string) (*url.URL, error) {
	p, err := streamurl.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	return &url.URL{Scheme: p.Scheme, Host: p.Host, Path: "/" + p.App, Fragment: p.Key}, nil
}

// session is one connection: connect, then write frames from a keyframe on.
func (d *destination) session(ctx context.Context, lastUp *time.Time) error {
	select { // the stream must be described before connecting
	case <-d.fan.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	u, err := gortmplibURL(d.rawURL)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u, Publish: true, TLSConfig: &tls.Config{ServerName: u.Hostname()}}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = c.Initialize(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	tr := d.fan.tracks
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{tr.video, tr.audio}}
	c.NetConn().SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	readErr := make(chan error, 1)
	go func() { // drain the server's messages; an error means it hung up
		for {
			if _, err := c.Read(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	backlog := d.resume()
	d.set(roomcast.DestinationStarted, nil)
	d.log.Info("destination connected")
	var base time.Duration
	started := false
	for _, fr := range backlog {
		if err := d.write(w, c, fr, &started, &base); err != nil {
			return err
		}
	}
	for {
		var fr frame
		select {
		case fr = <-d.frames:
		case err := <-readErr:
			return fmt.Errorf("server closed the connection: %w", err)
		case <-ctx.Done():
			d.flush(w, &started, base)
			return ctx.Err()
		}
		if err := d.write(w, c, fr, &started, &base); err != nil {
			return err
		}
		*lastUp = time.Now()
	}
}

// resume takes what queued while connecting and keeps it from the latest
// keyframe on: the first connection starts without waiting a GOP, and a
// reconnection does not replay stale seconds.
func (d *destination) resume() []frame {
	var q []frame
	for {
		select {
		case fr := <-d.frames:
			q = append(q, fr)
			continue
		default:
		}
		break
	}
	for i := len(q) - 1; i >= 0; i-- {
		if q[i].video && q[i].key {
			if time.Since(q[i].at) > 3*time.Second {
				return nil // stale: wait for the next keyframe
			}
			return q[i:]
		}
	}
	return nil
}

// write sends one frame, starting each connection at a keyframe with
// timestamps from zero.
func (d *destination) write(w *gortmplib.Writer, c *gortmplib.Client, fr frame, started *bool, base *time.Duration) error {
	if !*started {
		if !fr.video || !fr.key {
			return nil
		}
		*started, *base = true, fr.dts
	}
	c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
	tr := d.fan.tracks
	var err error
	if fr.video {
		err = w.WriteH264(tr.video, fr.pts-*base, fr.dts-*base, fr.au)
	} else if fr.pts >= *base {
		err = w.WriteMPEG4Audio(tr.audio, fr.pts-*base, fr.aac)
	}
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// flush sends what is still queued when the job stops: the last seconds.
func (d *destination) flush(w *gortmplib.Writer, started *bool, base time.Duration) {
	c := w.Conn.(*gortmplib.Client)
	for {
		select {
		case fr := <-d.frames:
			if d.write(w, c, fr, started, &base) != nil {
				return
			}
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}
