package composite

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/rtmpclient"
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
	// RootCAs, when set, are the CAs rtmps servers are verified against
	// instead of the system's.
	RootCAs *x509.CertPool
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
	err   *roomcast.DestinationError

	sentFrames, sentBytes, reconnects atomic.Uint64 // for /metrics
}

// maxRefusals is how many times in a row an ingest may refuse the key (or
// present an untrusted certificate) before the destination fails: enough
// to ride out a server restarting, not an endless loop on a wrong key.
const maxRefusals = 3

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

// set changes the state; err's code is its rtmpclient.Kind, the stable
// code a person (or a backend) acts on.
func (d *destination) set(state roomcast.DestinationState, err error) {
	d.mu.Lock()
	d.state, d.err = state, nil
	if err != nil {
		d.err = &roomcast.DestinationError{Code: roomcast.DestinationErrorCode(rtmpclient.KindOf(err)), Message: d.scrub(err.Error())}
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
	refusals := 0
	for attempt := 0; ; attempt++ {
		err := d.session(ctx, &lastUp)
		if ctx.Err() != nil {
			d.set(roomcast.DestinationStopped, nil)
			return
		}
		if k := rtmpclient.KindOf(err); k == rtmpclient.Rejected || k == rtmpclient.TLSUntrusted {
			refusals++
		} else {
			refusals = 0
		}
		if refusals >= maxRefusals {
			d.log.Warn("destination failed; not retrying", "err", d.scrub(err.Error()), "attempts", refusals)
			d.set(roomcast.DestinationFailed, err)
			return
		}
		if time.Since(lastUp) > d.opts.GiveUp {
			d.log.Warn("destination failed; giving up", "err", d.scrub(err.Error()))
			d.set(roomcast.DestinationFailed, &giveUp{after: d.opts.GiveUp, err: err})
			return
		}
		d.log.Info("destination down; reconnecting", "err", d.scrub(err.Error()), "in", backoff)
		d.reconnects.Add(1)
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

// giveUp is the last error of a destination that stayed down too long; it
// keeps that error's kind.
type giveUp struct {
	after time.Duration
	err   error
}

func (g *giveUp) Error() string { return fmt.Sprintf("no connection for %v: %v", g.after, g.err) }
func (g *giveUp) Unwrap() error { return g.err }

// session is one connection: connect, then write frames from a keyframe on.
func (d *destination) session(ctx context.Context, lastUp *time.Time) error {
	select { // the stream must be described before connecting
	case <-d.fan.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	u, err := streamurl.Parse(d.rawURL)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := rtmpclient.Dial(cctx, u, rtmpclient.Options{TLS: &tls.Config{RootCAs: d.opts.RootCAs}})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	tr := d.fan.tracks
	w := &gortmplib.Writer{Conn: c, Tracks: tr.list()}
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
	d.log.Info("destination connected")
	var base time.Duration
	started := false
	// It is started once media goes out: a job connects its destinations
	// while its page is still joining.
	send := func(fr frame) error {
		was := started
		if err := d.write(w, c, fr, &started, &base); err != nil {
			return err
		}
		if started && !was {
			d.set(roomcast.DestinationStarted, nil)
		}
		return nil
	}
	for _, fr := range backlog {
		if err := send(fr); err != nil {
			return err
		}
	}
	for {
		var fr frame
		select {
		case fr = <-d.frames:
		case err := <-readErr:
			return &rtmpclient.Error{Kind: rtmpclient.Lost, Addr: u.Host, Err: fmt.Errorf("the server hung up: %w", err)}
		case <-ctx.Done():
			d.flush(w, &started, base)
			return ctx.Err()
		}
		if err := send(fr); err != nil {
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
		if q[i].key {
			if time.Since(q[i].at) > 3*time.Second {
				return nil // stale: wait for the next keyframe
			}
			return q[i:]
		}
	}
	return nil
}

// write sends one frame, starting each connection at a keyframe (any
// sound of an audio-only stream) with timestamps from zero.
func (d *destination) write(w *gortmplib.Writer, c *rtmpclient.Conn, fr frame, started *bool, base *time.Duration) error {
	if !*started {
		if !fr.key {
			return nil
		}
		*started, *base = true, fr.dts
	}
	c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
	tr := d.fan.tracks
	var err error
	n := 0
	if fr.video {
		err = w.WriteH264(tr.video, fr.pts-*base, fr.dts-*base, fr.au)
		for _, nalu := range fr.au {
			n += len(nalu)
		}
	} else if fr.pts >= *base {
		err, n = w.WriteMPEG4Audio(tr.audio, fr.pts-*base, fr.aac), len(fr.aac)
	}
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if n > 0 {
		d.sentFrames.Add(1)
		d.sentBytes.Add(uint64(n))
	}
	return nil
}

// flush sends what is still queued when the job stops: the last seconds.
func (d *destination) flush(w *gortmplib.Writer, started *bool, base time.Duration) {
	c := w.Conn.(*rtmpclient.Conn)
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
