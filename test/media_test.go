package e2e

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/roomcast/roomcast/internal/rtcclient"
	"github.com/roomcast/roomcast/internal/testkit"
)

// fixtures are known media files made with ffmpeg: a VP8 test pattern in
// IVF (keyframe every 15 frames) and a sine tone in Ogg Opus, one packet
// per page.
type fixtures struct{ ivf, ogg, h264 string }

func makeFixtures(t *testing.T, seconds int) fixtures {
	t.Helper()
	dir := t.TempDir()
	f := fixtures{ivf: filepath.Join(dir, "video.ivf"), ogg: filepath.Join(dir, "audio.ogg"), h264: filepath.Join(dir, "video.h264")}
	d := time.Duration(seconds) * time.Second
	run := func(args ...string) {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	run("-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", d.String(), "-c:v", "libvpx",
		"-g", "15", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8", "-auto-alt-ref", "0", f.ivf)
	run("-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", d.String(), "-c:v", "libx264", "-profile:v", "baseline",
		"-tune", "zerolatency", "-threads", "1", "-g", "15", "-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", f.h264)
	run("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", d.String(), "-ac", "2",
		"-c:a", "libopus", "-b:a", "32k", "-page_duration", "20000", f.ogg)
	return f
}

// publisher is a Go pion peer publishing fixture files.
type publisher struct {
	c            *rtcclient.Client
	h264         bool // the video track is H.264 (else VP8)
	video, audio *webrtc.TrackLocalStaticSample
	firstSent    time.Time
	videoFrames  int
	audioFrames  int
}

// joinPublisher joins room and publishes the chosen tracks, waiting until
// the connection is up so nothing sent is lost to the handshake.
func joinPublisher(t testing.TB, s *server, room, identity string, video, audio bool) *publisher {
	return joinPublisherCodec(t, s, room, identity, webrtc.MimeTypeVP8, video, audio)
}

func joinPublisherCodec(t testing.TB, s *server, room, identity, videoCodec string, video, audio bool) *publisher {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	c, err := rtcclient.Dial(ctx, rtcclient.Options{URL: "ws" + s.URL[len("http"):] + "/rtc", Room: room,
		Token: s.joinToken(t, room, identity, "guest")})
	if err != nil {
		t.Fatalf("join %s: %v", identity, err)
	}
	t.Cleanup(func() { c.Close() })
	p := &publisher{c: c, h264: videoCodec == webrtc.MimeTypeH264}
	var tracks []webrtc.TrackLocal
	if video {
		p.video, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: videoCodec, ClockRate: 90000}, "video", identity)
		tracks = append(tracks, p.video)
	}
	if audio {
		p.audio, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", identity)
		tracks = append(tracks, p.audio)
	}
	if err := c.Publish(ctx, tracks...); err != nil {
		t.Fatalf("publish %s: %v", identity, err)
	}
	testkit.WaitFor(t, 10*time.Second, identity+" connected", func() bool {
		return c.PC().ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	return p
}

// send plays the fixtures in real time (at most d of them) and returns
// when done; it counts the frames sent.
func (p *publisher) send(t testing.TB, f fixtures, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	p.firstSent = time.Now()
	errc := make(chan error, 2)
	n := 0
	if p.video != nil {
		n++
		play := func() error { return playIVF(ctx, f.ivf, p.video, &p.videoFrames) }
		if p.h264 {
			play = func() error { return playH264(ctx, f.h264, p.video, &p.videoFrames) }
		}
		go func() { errc <- play() }()
	}
	if p.audio != nil {
		n++
		go func() { errc <- playOgg(ctx, f.ogg, p.audio, &p.audioFrames) }()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("send: %v", err)
		}
	}
}

func playIVF(ctx context.Context, path string, track *webrtc.TrackLocalStaticSample, sent *int) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	r, h, err := ivfreader.NewWith(file)
	if err != nil {
		return err
	}
	frameDur := time.Second * time.Duration(h.TimebaseNumerator) / time.Duration(h.TimebaseDenominator)
	return pace(ctx, frameDur, func() (bool, error) {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		*sent++
		return true, track.WriteSample(media.Sample{Data: frame, Duration: frameDur})
	})
}

// playH264 sends an Annex-B file one access unit at a time at 30 fps: the
// parameter sets and SEI that precede a slice go with it (one slice per
// frame, as the fixture is encoded).
func playH264(ctx context.Context, path string, track *webrtc.TrackLocalStaticSample, sent *int) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	r, err := h264reader.NewReader(file)
	if err != nil {
		return err
	}
	const frameDur = time.Second / 30
	return pace(ctx, frameDur, func() (bool, error) {
		var au []byte
		for {
			nal, err := r.NextNAL()
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			au = append(au, 0, 0, 0, 1)
			au = append(au, nal.Data...)
			if t := nal.UnitType; t == h264reader.NalUnitTypeCodedSliceIdr || t == h264reader.NalUnitTypeCodedSliceNonIdr {
				*sent++
				return true, track.WriteSample(media.Sample{Data: au, Duration: frameDur})
			}
		}
	})
}

func playOgg(ctx context.Context, path string, track *webrtc.TrackLocalStaticSample, sent *int) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	r, _, err := oggreader.NewWith(file)
	if err != nil {
		return err
	}
	const frameDur = 20 * time.Millisecond
	var granule uint64
	return pace(ctx, frameDur, func() (bool, error) {
		for {
			page, h, err := r.ParseNextPage()
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if _, isHeader := h.HeaderType(page); isHeader || h.GranulePosition == granule {
				continue // OpusTags, or a page without a packet end
			}
			granule = h.GranulePosition
			*sent++
			return true, track.WriteSample(media.Sample{Data: page, Duration: frameDur})
		}
	})
}

// pace calls next every d until it says stop or ctx ends.
func pace(ctx context.Context, d time.Duration, next func() (bool, error)) error {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		more, err := next()
		if err != nil || !more {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
