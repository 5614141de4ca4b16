package trackrec

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/roomcast/roomcast/internal/sfu"
)

// Opus packets arrive with the RTP timestamp about to wrap, two pairs
// swapped and one lost: the file has every packet that came, in order, and
// the lost 20 ms filled, so its length is the time the sender covered.
func TestTrackReordersUnwrapsAndFillsLoss(t *testing.T) {
	dir := t.TempDir()
	s, err := newSession("rec1", "room", dir, time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	info := sfu.TrackInfo{ID: "a1", PeerID: "p1", Identity: "ann", Kind: webrtc.RTPCodecTypeAudio,
		Codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}}
	sink := s.TrackPublished(info, func() {})
	const n = 100
	order := make([]int, 0, n)
	for i := range n {
		order = append(order, i)
	}
	order[10], order[11] = order[11], order[10]
	order[50], order[52] = order[52], order[50]
	order = append(order[:70], order[71:]...) // packet 70 is lost
	for _, i := range order {
		sink.WriteRTP(&rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(65500 + i), Timestamp: uint32(0xFFFFF000 + i*960), SSRC: 1},
			Payload: []byte{0xFC, byte(i)}, // CELT FB 20 ms, stereo, code 0
		})
	}
	sink.SenderReport(time.Now(), 0xFFFFF000)
	sink.Close()
	s.finish()

	man, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Tracks) != 1 {
		t.Fatalf("manifest tracks = %d, want 1", len(man.Tracks))
	}
	tr := man.Tracks[0]
	if tr.Frames != n-1 || tr.LostPackets != 1 || tr.DurationMs != n*20 || !tr.Ended || tr.Error != "" {
		t.Errorf("manifest track = %+v, want %d frames, 1 lost, %d ms", tr, n-1, n*20)
	}
	if tr.RTPStartOffsetMs == nil {
		t.Error("no rtpStartOffsetMs although a sender report came")
	}
	f, err := os.Open(filepath.Join(dir, tr.File))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var pages []byte
	var granule uint64
	for {
		p, h, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, header := h.HeaderType(p); header || len(p) == 0 {
			continue
		}
		granule = h.GranulePosition
		if len(p) == 2 {
			pages = append(pages, p[1])
		}
	}
	if granule != n*960+3840 {
		t.Errorf("last granule = %d, want %d (100 × 20 ms at 48 kHz, the lost one filled, after the 3840-sample pre-skip)", granule, n*960+3840)
	}
	for i, v := range pages {
		want := i
		if i >= 70 {
			want = i + 1
		}
		if int(v) != want {
			t.Fatalf("packet %d in the file is #%d, want #%d (in sending order)", i, v, want)
		}
	}
}

// stuckFile is a disk that stops answering.
type stuckFile struct{ release chan struct{} }

func (f stuckFile) writeFrame(time.Duration, bool, []byte) error { <-f.release; return nil }
func (f stuckFile) close() error                                 { return nil }

// A recorder whose disk hangs never holds up the forwarding loop: its queue
// fills, then packets are dropped and counted.
func TestStuckDiskDropsInsteadOfBlocking(t *testing.T) {
	file := stuckFile{release: make(chan struct{})}
	info := sfu.TrackInfo{ID: "a1", Kind: webrtc.RTPCodecTypeAudio,
		Codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}}}
	ended := make(chan *track, 1)
	tr := newTrack(info, file, func() {}, slog.New(slog.DiscardHandler), func(t *track) { ended <- t })
	go tr.run()
	before := Dropped.Load()
	const sent = 3 * queueLen
	for i := range sent { // would hang here if WriteRTP blocked
		tr.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i * 960)}, Payload: []byte{0xFC, 1}})
	}
	// The run goroutine holds at most a few packets outside the queue.
	if d := tr.dropped.Load(); d < sent-queueLen-4 || Dropped.Load()-before != d {
		t.Errorf("dropped %d (metric +%d) of %d with a queue of %d", d, Dropped.Load()-before, sent, queueLen)
	}
	tr.Close()
	close(file.release)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the track did not end once the disk came back")
	}
}

// A video track that never sends a keyframe leaves no file, and the
// manifest says why; the publisher was asked for one.
func TestVideoWithoutKeyframeLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	s, err := newSession("rec1", "room", dir, time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	info := sfu.TrackInfo{ID: "v1", Identity: "vic", Kind: webrtc.RTPCodecTypeVideo,
		Codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
	asked := make(chan struct{}, 10)
	sink := s.TrackPublished(info, func() { asked <- struct{}{} })
	for i := range 30 { // interframes only: VP8 descriptor byte, then P-frame flag set
		sink.WriteRTP(&rtp.Packet{Header: rtp.Header{Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i * 3000)},
			Payload: []byte{0x10, 0x01, 0x02, 0x03}})
	}
	sink.Close()
	s.finish()
	man, _ := ReadManifest(dir)
	if len(man.Tracks) != 1 || man.Tracks[0].File != "" || man.Tracks[0].Error == "" || man.Tracks[0].Frames != 0 {
		t.Fatalf("manifest = %+v, want the track with no file and an error", man.Tracks)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files = %v, want only the manifest", entries)
	}
	if len(asked) == 0 {
		t.Error("no keyframe was asked for")
	}
}
