package main

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// player plays one stream key from nginx as an RTMP client and notes when
// the first video and audio frames arrive and how many video frames came:
// what nginx relays is what it received from the publisher a moment
// earlier (loopback).
type player struct {
	cancel context.CancelFunc
	done   chan struct{}
	frames atomic.Int64

	mu         sync.Mutex
	firstVideo time.Time
	firstAudio time.Time
	err        error
}

// play connects to rtmp://addr/live/key (before or after the publisher).
func play(ctx context.Context, addr, key string) *player {
	ctx, cancel := context.WithCancel(ctx)
	p := &player{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.setErr(p.run(ctx, addr, key))
	}()
	return p
}

func (p *player) run(ctx context.Context, addr, key string) error {
	u := &url.URL{Scheme: "rtmp", Host: addr, Path: "/live", Fragment: key}
	c := &gortmplib.Client{URL: u}
	if err := c.Initialize(ctx); err != nil { // ends with ctx by itself
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close) // unblocks Read
	defer stop()
	for {
		msg, err := c.Read()
		if err != nil {
			return err
		}
		now := time.Now()
		switch m := msg.(type) {
		case *message.Video:
			if m.Type != message.VideoTypeAU {
				continue
			}
			p.frames.Add(1)
			p.mu.Lock()
			if p.firstVideo.IsZero() {
				p.firstVideo = now
			}
			p.mu.Unlock()
		case *message.Audio:
			if m.AACType != message.AudioAACTypeAU {
				continue
			}
			p.mu.Lock()
			if p.firstAudio.IsZero() {
				p.firstAudio = now
			}
			p.mu.Unlock()
		}
	}
}

func (p *player) setErr(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// first returns when the first video and audio frames arrived (zero: not yet).
func (p *player) first() (video, audio time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstVideo, p.firstAudio
}

// wait waits until the first audio frame (and video frame, withVideo)
// came, or timeout.
func (p *player) wait(ctx context.Context, timeout time.Duration, withVideo bool) (video, audio time.Time) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if video, audio = p.first(); (!video.IsZero() || !withVideo) && !audio.IsZero() {
			break
		}
		if sleep(ctx, 5*time.Millisecond) != nil {
			break
		}
	}
	return p.first()
}

// close disconnects the player.
func (p *player) close() {
	p.cancel()
	<-p.done
}
