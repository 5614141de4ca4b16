// Package activity carries what each room's SFU receives (is anyone making
// a sound, is anyone sending pictures) over NATS, once a second, to the
// beam workers whose live monitor compares it with their output. The SFU
// and the worker may be on different machines.
package activity

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/sfu"
)

// Report is one room's activity over the last second.
type Report struct {
	Room string `json:"room"`
	// Sound: a publisher's audio had sound within the last SoundWindow.
	Sound       bool    `json:"sound"`
	AudioTracks int     `json:"audioTracks"`
	VideoTracks int     `json:"videoTracks"`
	VideoFPS    float64 `json:"videoFps"` // frames per second forwarded, all tracks
}

// SoundWindow is how recent a sound must be for a report to say Sound.
const SoundWindow = 1500 * time.Millisecond

// Interval is how often each room's activity is published.
const Interval = time.Second

// subject is the room's NATS subject; the room name is hex-encoded, since
// names may hold characters a subject token cannot ('.', '*', '>', space).
func subject(room string) string { return "roomcast.activity." + hex.EncodeToString([]byte(room)) }

// Source is what the SFU tells about its rooms.
type Source interface {
	Rooms() map[string][]sfu.PeerInfo
	Activity(room string) (sfu.Activity, bool)
}

// Publish sends every room's Report each Interval until ctx ends.
func Publish(ctx context.Context, nc *nats.Conn, src Source, log *slog.Logger) {
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	frames := map[string]int64{}
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			seen := map[string]int64{}
			for room := range src.Rooms() {
				a, ok := src.Activity(room)
				if !ok {
					continue
				}
				r := Report{Room: room, Sound: !a.SoundAt.IsZero() && now.Sub(a.SoundAt) < SoundWindow,
					AudioTracks: a.AudioTracks, VideoTracks: a.VideoTracks}
				if prev, ok := frames[room]; ok && a.VideoFrames >= prev {
					r.VideoFPS = float64(a.VideoFrames-prev) / now.Sub(last).Seconds()
				}
				seen[room] = a.VideoFrames
				b, _ := json.Marshal(r)
				if err := nc.Publish(subject(room), b); err != nil {
					log.Debug("publish room activity", "room", room, "err", err)
				}
			}
			frames, last = seen, now
		}
	}
}

// Watch keeps the latest Report of one room.
type Watch struct {
	sub *nats.Subscription

	mu   sync.Mutex
	last Report
	at   time.Time
}

// NewWatch subscribes to room's reports.
func NewWatch(nc *nats.Conn, room string) (*Watch, error) {
	w := &Watch{}
	sub, err := nc.Subscribe(subject(room), func(m *nats.Msg) {
		var r Report
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		w.mu.Lock()
		w.last, w.at = r, time.Now()
		w.mu.Unlock()
	})
	if err != nil {
		return nil, fmt.Errorf("activity: subscribe: %w", err)
	}
	w.sub = sub
	return w, nil
}

// Latest returns the newest report; ok is false when none arrived within
// the last three intervals (the room's server is gone, or never reported).
func (w *Watch) Latest() (r Report, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, !w.at.IsZero() && time.Since(w.at) < 3*Interval
}

// Close ends the subscription.
func (w *Watch) Close() { w.sub.Unsubscribe() }
