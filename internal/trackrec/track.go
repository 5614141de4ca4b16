package trackrec

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/roomcast/roomcast/internal/mediatime"
	"github.com/roomcast/roomcast/internal/sfu"
)

// queueLen bounds the packets waiting for the disk per track (~5 s of
// 500 kbit/s video): a slow disk costs the recorder packets, never the call.
const queueLen = 512

// keyframeRetry is how often a video track without a keyframe yet asks for one.
const keyframeRetry = time.Second

// Dropped counts packets the recorder dropped because its queue was full,
// over all tracks since the process started (exported as a metric).
var Dropped atomic.Uint64

// frameFile is one track's output file.
type frameFile interface {
	writeFrame(pts time.Duration, keyframe bool, data []byte) error
	close() error
}

// track records one published track: the SFU's forwarding loop queues
// packets (WriteRTP never blocks), a goroutine reorders them into frames
// and writes them.
type track struct {
	info     sfu.TrackInfo
	keyframe func()
	file     frameFile
	sb       *samplebuilder.SampleBuilder
	clock    uint32
	log      *slog.Logger
	onEnd    func(*track)

	q        chan *rtp.Packet
	stop     chan struct{}
	stopOnce sync.Once
	dropped  atomic.Uint64

	srMu sync.Mutex
	sr   *senderReport

	// Owned by run; read by the session after done is closed.
	stats trackStats
	done  chan struct{}
}

type senderReport struct {
	ntp time.Time
	rtp uint32
}

// trackStats is what the manifest says about a track once it ends.
type trackStats struct {
	firstArrival time.Time
	lastArrival  time.Time
	rtpStart     time.Time // the first frame's capture time from sender reports
	first, last  int64     // unwrapped RTP timestamps of the first and last frame written
	lastDur      time.Duration
	frames       int
	lost         uint64
	err          error
}

// depacketizer returns how frames of codec are rebuilt from RTP, and the
// samplebuilder's reorder window in packets; ok is false for codecs the
// recorder does not write.
func depacketizer(mime string) (rtp.Depacketizer, uint16, bool) {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeOpus):
		return &codecs.OpusPacket{}, 50, true
	case strings.ToLower(webrtc.MimeTypeVP8):
		return &codecs.VP8Packet{}, 200, true
	case strings.ToLower(webrtc.MimeTypeH264):
		return &codecs.H264Packet{IsAVC: true}, 200, true
	}
	return nil, 0, false
}

func newTrack(info sfu.TrackInfo, file frameFile, keyframe func(), log *slog.Logger, onEnd func(*track)) *track {
	d, late, _ := depacketizer(info.Codec.MimeType)
	clock := info.Codec.ClockRate
	return &track{
		info: info, keyframe: keyframe, file: file, clock: clock, log: log, onEnd: onEnd,
		sb: samplebuilder.New(late, d, clock, samplebuilder.WithMaxTimeDelay(time.Second)),
		q:  make(chan *rtp.Packet, queueLen), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// WriteRTP queues pkt, or drops and counts it when the queue is full.
func (t *track) WriteRTP(pkt *rtp.Packet) {
	select {
	case <-t.stop:
		return
	default:
	}
	select {
	case t.q <- pkt:
	default:
		if t.dropped.Add(1)%100 == 1 {
			t.log.Warn("track recorder cannot keep up; dropping packets", "track", t.info.ID, "dropped", t.dropped.Load())
		}
		Dropped.Add(1)
	}
}

// SenderReport keeps the publisher's latest clock mapping.
func (t *track) SenderReport(ntp time.Time, rtpTime uint32) {
	t.srMu.Lock()
	t.sr = &senderReport{ntp: ntp, rtp: rtpTime}
	t.srMu.Unlock()
}

// Close ends the track: what is queued is still written.
func (t *track) Close() { t.stopOnce.Do(func() { close(t.stop) }) }

func (t *track) run() {
	defer close(t.done)
	var ts unwrapper
	retry := time.NewTicker(keyframeRetry)
	defer retry.Stop()
	video := t.info.Kind == webrtc.RTPCodecTypeVideo
	if video {
		t.keyframe()
	}
	for {
		select {
		case p := <-t.q:
			t.push(p, &ts)
		case <-retry.C:
			if video && t.stats.frames == 0 {
				t.keyframe()
			}
			t.mapClock()
		case <-t.stop:
			for {
				select {
				case p := <-t.q:
					t.push(p, &ts)
				default:
					t.sb.Flush()
					t.pop(&ts)
					t.mapClock()
					t.stats.err = errors.Join(t.stats.err, t.file.close())
					t.onEnd(t)
					return
				}
			}
		}
	}
}

func (t *track) push(p *rtp.Packet, ts *unwrapper) {
	now := time.Now()
	if t.stats.firstArrival.IsZero() {
		t.stats.firstArrival = now
	}
	t.stats.lastArrival = now
	t.sb.Push(p)
	t.pop(ts)
}

// pop writes every frame the samplebuilder has completed.
func (t *track) pop(ts *unwrapper) {
	for s := t.sb.Pop(); s != nil; s = t.sb.Pop() {
		t.write(s, ts)
	}
}

func (t *track) write(s *media.Sample, ts *unwrapper) {
	t.stats.lost += uint64(s.PrevDroppedPackets)
	at := ts.unwrap(s.PacketTimestamp)
	key := t.keyframeOf(s.Data)
	if t.stats.frames == 0 {
		if !key {
			return // a video file starts at a keyframe; one was asked for
		}
		t.stats.first = at
	}
	if at < t.stats.last && t.stats.frames > 0 {
		return // older than what is written: too late
	}
	pts := mediatime.Duration(at-t.stats.first, t.clock)
	if err := t.file.writeFrame(pts, key, s.Data); err != nil {
		if errors.Is(err, errNoKeyframe) {
			return // not a decodable keyframe: keep waiting
		}
		if t.stats.err == nil {
			t.log.Warn("track recorder write failed", "track", t.info.ID, "err", err)
			t.stats.err = err
		}
		return
	}
	t.stats.frames++
	t.stats.last, t.stats.lastDur = at, s.Duration
	if t.info.Kind == webrtc.RTPCodecTypeAudio {
		if d, err := opusDuration(s.Data); err == nil {
			t.stats.lastDur = d
		}
	}
}

// keyframeOf says whether a frame starts a decodable picture (every audio
// frame does).
func (t *track) keyframeOf(frame []byte) bool {
	switch {
	case t.info.Kind == webrtc.RTPCodecTypeAudio:
		return true
	case strings.EqualFold(t.info.Codec.MimeType, webrtc.MimeTypeH264):
		return h264Keyframe(frame)
	}
	return vp8Keyframe(frame)
}

// mapClock turns the first frame's RTP time into wall-clock capture time
// once a sender report has arrived.
func (t *track) mapClock() {
	if t.stats.frames == 0 || !t.stats.rtpStart.IsZero() {
		return
	}
	t.srMu.Lock()
	sr := t.sr
	t.srMu.Unlock()
	if sr == nil {
		return
	}
	d := int64(int32(uint32(t.stats.first) - sr.rtp))
	t.stats.rtpStart = sr.ntp.Add(mediatime.Duration(d, t.clock))
}

// duration is the media length written, from RTP timestamps.
func (s trackStats) duration(clock uint32) time.Duration {
	if s.frames == 0 {
		return 0
	}
	return mediatime.Duration(s.last-s.first, clock) + s.lastDur
}
