package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/roomcast/roomcast/internal/sfu"
)

const (
	videoFrame = time.Second / 30
	audioFrame = 20 * time.Millisecond
	mtu        = 1200
)

// media is 10 s of real frames, looped: VP8 from ffmpeg's test pattern and
// Opus from a tone.
type media struct {
	video [][]byte
	audio [][]byte
}

func loadMedia(dir string) (*media, error) {
	ivf, ogg := filepath.Join(dir, "v.ivf"), filepath.Join(dir, "a.ogg")
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "10", "-c:v", "libvpx", "-b:v", "500k",
			"-g", "60", "-deadline", "realtime", "-cpu-used", "8", "-auto-alt-ref", "0", ivf},
		{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "10", "-ac", "2",
			"-c:a", "libopus", "-b:a", "32k", "-page_duration", "20000", ogg},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ffmpeg: %v: %s", err, out)
		}
	}
	m := &media{}
	f, err := os.Open(ivf)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vr, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	for {
		frame, _, err := vr.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		m.video = append(m.video, frame)
	}
	g, err := os.Open(ogg)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	ar, _, err := oggreader.NewWith(g)
	if err != nil {
		return nil, err
	}
	for {
		page, h, err := ar.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		if _, header := h.HeaderType(page); !header && len(page) > 0 {
			m.audio = append(m.audio, page)
		}
	}
	return m, nil
}

func (m *media) videoKbps() int { return bytesOf(m.video) * 8 / 1000 / 10 }
func (m *media) audioKbps() int { return bytesOf(m.audio) * 8 / 1000 / 10 }

func bytesOf(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}

// feed is one track: its sink and where it is in the media.
type feed struct {
	sink   sfu.TrackSink
	frames [][]byte
	every  time.Duration
	pkt    rtp.Packetizer
	ticks  uint32 // RTP ticks per frame
	next   time.Time
	i      int
}

type feeds struct {
	all     []*feed
	sent    atomic.Uint64
	elapsed time.Duration
}

// newFeeds publishes n tracks to tap, half video and half audio, their
// frames spread over one frame time so the load is even.
func newFeeds(m *media, n int, tap sfu.Tap) *feeds {
	fs := &feeds{}
	start := time.Now()
	for i := range n {
		f := &feed{}
		info := sfu.TrackInfo{ID: fmt.Sprintf("t%d", i), PeerID: fmt.Sprintf("p%d", i/2), Identity: fmt.Sprintf("peer%d", i/2)}
		if i%2 == 0 {
			info.Kind = webrtc.RTPCodecTypeVideo
			info.Codec.RTPCodecCapability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
			f.frames, f.every, f.ticks = m.video, videoFrame, 3000
			f.pkt = rtp.NewPacketizer(mtu, 96, uint32(i+1), &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
		} else {
			info.Kind = webrtc.RTPCodecTypeAudio
			info.Codec.RTPCodecCapability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
			f.frames, f.every, f.ticks = m.audio, audioFrame, 960
			f.pkt = rtp.NewPacketizer(mtu, 111, uint32(i+1), &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
		}
		f.next = start.Add(f.every * time.Duration(i) / time.Duration(n))
		f.sink = tap.TrackPublished(info, func() {})
		fs.all = append(fs.all, f)
	}
	return fs
}

// run sends every frame that is due, every 5 ms, until stop.
func (fs *feeds) run(stop <-chan struct{}) {
	start := time.Now()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			fs.elapsed = time.Since(start)
			return
		case now := <-t.C:
			for _, f := range fs.all {
				for !f.next.After(now) {
					for _, p := range f.pkt.Packetize(f.frames[f.i%len(f.frames)], f.ticks) {
						f.sink.WriteRTP(p)
						fs.sent.Add(1)
					}
					f.i++
					f.next = f.next.Add(f.every)
				}
			}
		}
	}
}

func (fs *feeds) close() {
	for _, f := range fs.all {
		f.sink.Close()
	}
}

// discard is a tap whose sinks drop everything: the cost of the feed alone.
type discard struct{}

func (discard) TrackPublished(sfu.TrackInfo, func()) sfu.TrackSink { return discardSink{} }

type discardSink struct{}

func (discardSink) WriteRTP(*rtp.Packet)           {}
func (discardSink) SenderReport(time.Time, uint32) {}
func (discardSink) Close()                         {}
