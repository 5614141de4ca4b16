package rtcclient

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Synthetic describes a made-up video + Opus stream: payload bytes the SFU
// forwards without looking inside, at realistic sizes and rates.
type Synthetic struct {
	VideoCodec   string        // MIME type; "" means VP8 (H.264 is accepted too)
	VideoBitrate int           // bits per second; 0 means 1 Mbit/s
	FrameRate    int           // video frames per second; 0 means 30
	AudioFrame   time.Duration // Opus frame duration; 0 means 20 ms
}

// PublishSynthetic publishes a synthetic video and audio track from c and
// sends until ctx is done. It returns once the server accepted the publish;
// the returned channel closes when sending has stopped.
func PublishSynthetic(ctx context.Context, c *Client, s Synthetic) (<-chan struct{}, error) {
	if s.VideoBitrate == 0 {
		s.VideoBitrate = 1_000_000
	}
	if s.FrameRate == 0 {
		s.FrameRate = 30
	}
	if s.VideoCodec == "" {
		s.VideoCodec = webrtc.MimeTypeVP8
	}
	if s.AudioFrame == 0 {
		s.AudioFrame = 20 * time.Millisecond
	}
	stream := "synthetic-" + c.Self().ID
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: s.VideoCodec, ClockRate: 90000}, "video", stream)
	if err != nil {
		return nil, err
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", stream)
	if err != nil {
		return nil, err
	}
	if err := c.Publish(ctx, video, audio); err != nil {
		return nil, fmt.Errorf("rtcclient: publish: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sendSynthetic(ctx, video, audio, s)
	}()
	return done, nil
}

func sendSynthetic(ctx context.Context, video, audio *webrtc.TrackLocalStaticSample, s Synthetic) {
	frameDur := time.Second / time.Duration(s.FrameRate)
	frame := make([]byte, s.VideoBitrate/8/s.FrameRate)
	opus := make([]byte, 80) // ~32 kbit/s at 20 ms
	vt := time.NewTicker(frameDur)
	defer vt.Stop()
	at := time.NewTicker(s.AudioFrame)
	defer at.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-vt.C:
			video.WriteSample(media.Sample{Data: frame, Duration: frameDur})
		case <-at.C:
			audio.WriteSample(media.Sample{Data: opus, Duration: s.AudioFrame})
		}
	}
}
