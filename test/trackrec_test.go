package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/internal/trackrec"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Three Go publishers: "alice" sends 6 s of VP8 + Opus and "carol" 6 s of
// H.264 for the whole recording, "bob" joins 2 s late with audio and leaves
// 2 s early. Every
// track lands in its own file, untranscoded, with every frame sent, the
// right length, and offsets in the manifest that line them up.
func TestTrackRecordingWritesEveryTrack(t *testing.T) {
	need(t, "ffmpeg", "ffprobe")
	f := makeFixtures(t, 6)
	s := startServer(t)
	c := client(t, s)
	ctx := testContext(t, 2*time.Minute)
	const room = "tracks"

	before := time.Now()
	st, err := c.StartTrackRecording(ctx, room) // an empty room: tracks are picked up as they come
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if !st.Recording.Server.Running || st.Recording.Server.State != roomcast.RecordingStateStarted {
		t.Fatalf("recording.server after start = %+v, want running and started", st.Recording.Server)
	}
	if _, err := c.StartTrackRecording(ctx, room); !isCode(err, "conflict") {
		t.Fatalf("second start: err = %v, want conflict", err)
	}

	alice := joinPublisher(t, s, room, "alice", true, true)
	carol := joinPublisherCodec(t, s, room, "carol", webrtc.MimeTypeH264, true, false)
	bob := joinPublisher(t, s, room, "bob", false, true)
	aliceDone := make(chan struct{})
	go func() { defer close(aliceDone); alice.send(t, f, time.Minute) }()
	carolDone := make(chan struct{})
	go func() { defer close(carolDone); carol.send(t, f, time.Minute) }()
	time.Sleep(2 * time.Second) // bob's late start is what the manifest must show
	bob.send(t, f, 2*time.Second)
	bobLeft := time.Now()
	bob.c.Close()
	<-aliceDone
	<-carolDone
	st, err = c.StopTrackRecording(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if st.Recording.Server.Running || st.Recording.Server.State != roomcast.RecordingStateStopped {
		t.Fatalf("recording.server after stop = %+v, want stopped", st.Recording.Server)
	}

	rec := onlyRecording(t, c, room, roomcast.RecordingKindTracks)
	dir := t.TempDir()
	man := downloadRecording(t, s, rec, dir)
	if len(man.Tracks) != 4 {
		t.Fatalf("manifest has %d tracks, want 4: %+v", len(man.Tracks), man.Tracks)
	}
	byKey := map[string]trackrec.ManifestTrack{}
	for _, tr := range man.Tracks {
		byKey[tr.Identity+"/"+tr.Kind] = tr
		if tr.Error != "" || !tr.Ended || tr.LostPackets != 0 || tr.DroppedPackets != 0 {
			t.Errorf("track %s/%s: error %q ended %v lost %d dropped %d", tr.Identity, tr.Kind, tr.Error, tr.Ended, tr.LostPackets, tr.DroppedPackets)
		}
	}
	checkTrack(t, dir, byKey["alice/video"], "vp8", alice.videoFrames, 0, 6*time.Second)
	checkTrack(t, dir, byKey["alice/audio"], "opus", alice.audioFrames, 0, 6*time.Second)
	checkTrack(t, dir, byKey["carol/video"], "h264", carol.videoFrames, 0, 6*time.Second)
	// bob hangs up right after his last packet: that one may still be on
	// the wire when his connection closes.
	checkTrack(t, dir, byKey["bob/audio"], "opus", bob.audioFrames, 1, 2*time.Second)

	// Offsets: the recording started between before and started; bob's
	// first packet left at bob.firstSent and his last before bobLeft.
	b := byKey["bob/audio"]
	// The slack is for the SFU's first packets of a new track: under the
	// load of a 2-core CI box they reached the recorder up to ~600 ms
	// after they were sent.
	const slack = 700
	lo, hi := bob.firstSent.Sub(started).Milliseconds(), bob.firstSent.Sub(before).Milliseconds()+slack
	if b.StartOffsetMs < lo || b.StartOffsetMs > hi {
		t.Errorf("bob's startOffsetMs = %d, want %d..%d", b.StartOffsetMs, lo, hi)
	}
	if b.RTPStartOffsetMs == nil || abs(*b.RTPStartOffsetMs-b.StartOffsetMs) > slack {
		t.Errorf("bob's rtpStartOffsetMs = %s, want within %d ms of %d", ptrText(b.RTPStartOffsetMs), slack, b.StartOffsetMs)
	}
	if end := bobLeft.Sub(before).Milliseconds() + 300; b.EndOffsetMs > end || b.EndOffsetMs < b.StartOffsetMs+2000-slack {
		t.Errorf("bob's endOffsetMs = %d, want %d..%d", b.EndOffsetMs, b.StartOffsetMs+2000-slack, end)
	}
	if a := byKey["alice/video"]; a.StartOffsetMs > b.StartOffsetMs-1500 {
		t.Errorf("alice starts at %d ms, bob at %d ms: bob joined 2 s later", a.StartOffsetMs, b.StartOffsetMs)
	}
	if ran := time.Since(started).Seconds(); rec.Duration < 5.5 || rec.Duration > ran+1 {
		t.Errorf("recording duration = %v s, want the ~6 s it ran (at most %.1f)", rec.Duration, ran+1)
	}
}

// Killing the server mid-recording leaves files that play up to their last
// seconds; the restarted server lists the recording, and the track
// recording fails once the dead server's heartbeats are overdue.
func TestTrackRecordingSurvivesServerKill(t *testing.T) {
	need(t, "ffmpeg", "ffprobe")
	f := makeFixtures(t, 6)
	s := startServer(t)
	c := client(t, s)
	ctx := testContext(t, 2*time.Minute)
	const room = "crash"
	if _, err := c.StartTrackRecording(ctx, room); err != nil {
		t.Fatal(err)
	}
	alice := joinPublisher(t, s, room, "alice", true, true)
	alice.send(t, f, 4*time.Second)
	s.kill()

	recs, _ := filepath.Glob(filepath.Join(s.data, "recordings", "*", "*.webm"))
	oggs, _ := filepath.Glob(filepath.Join(s.data, "recordings", "*", "*.ogg"))
	if len(recs) != 1 || len(oggs) != 1 {
		t.Fatalf("files left: webm %v ogg %v, want one each", recs, oggs)
	}
	for _, file := range []string{recs[0], oggs[0]} {
		if got := decodedSeconds(t, file); got < 3 {
			t.Errorf("%s decodes to %.2f s after the kill, want the ~4 s sent", filepath.Base(file), got)
		}
	}

	s2 := startServer(t, "--data", s.data)
	c2 := client(t, s2)
	rec := onlyRecording(t, c2, room, roomcast.RecordingKindTracks)
	if rec.Status != roomcast.RecordingPhaseReady || len(rec.Files) != 3 {
		t.Errorf("recovered recording: status %s files %+v, want ready with 2 tracks + manifest", rec.Status, rec.Files)
	}
	// The killed server's heartbeats stopped: the new one fails its session
	// once they are 10 s old.
	st := waitBeam(t, c2, room, 20*time.Second, "recording.server failed after the restart", func(st roomcast.BeamState) bool {
		return st.Recording.Server.State == roomcast.RecordingStateFailed
	})
	if st.Recording.Server.Running || st.Recording.Server.Error == nil || !strings.Contains(st.Recording.Server.Error.Message, "went silent") {
		t.Errorf("recording.server after restart = %+v, want failed saying the server restarted", st.Recording.Server)
	}
}

// checkTrack probes a recorded file: codec, every frame sent (but at most
// inFlight at the end), and its length.
// Two servers share one NATS: a track recording running on the server the
// room's peers are on is stopped through the other one, and its files are
// finished on the first.
func TestTrackRecordingStoppedThroughAnotherServer(t *testing.T) {
	need(t, "ffmpeg", "ffprobe")
	f := makeFixtures(t, 2)
	natsURL := startNATS(t)
	a := startServer(t, "--nats", natsURL, "--worker-slots", "0")
	// Same data dir, so the same secret: tokens work on both.
	b := startServer(t, "--nats", natsURL, "--worker-slots", "0", "--data", a.data)
	ca, cb := client(t, a), client(t, b)
	ctx := testContext(t, time.Minute)
	const room = "split"
	if _, err := ca.StartTrackRecording(ctx, room); err != nil {
		t.Fatal(err)
	}
	alice := joinPublisher(t, a, room, "alice", true, true)
	alice.send(t, f, time.Minute)
	st, err := cb.StopTrackRecording(ctx, room)
	if err != nil || st.Recording.Server.State != roomcast.RecordingStateStopped {
		t.Fatalf("stop through the other server: %+v, %v", st.Recording.Server, err)
	}
	rec := onlyRecording(t, ca, room, roomcast.RecordingKindTracks)
	man := downloadRecording(t, a, rec, t.TempDir())
	if len(man.Tracks) != 2 || man.EndedAt == nil {
		t.Errorf("manifest on the recording server: %d tracks, endedAt %v; want 2 and an end", len(man.Tracks), man.EndedAt)
	}
}

// With --record-tracks every room is recorded from when it opens until its
// last peer leaves, with no API call.
func TestRecordTracksFlagRecordsEveryRoom(t *testing.T) {
	need(t, "ffmpeg", "ffprobe")
	f := makeFixtures(t, 2)
	s := startServer(t, "--record-tracks")
	c := client(t, s)
	const room = "auto"
	alice := joinPublisher(t, s, room, "alice", true, true)
	waitBeam(t, c, room, 10*time.Second, "recording.server started on its own", func(st roomcast.BeamState) bool {
		return st.Recording.Server.State == roomcast.RecordingStateStarted
	})
	alice.send(t, f, time.Minute)
	alice.c.Close()
	st := waitBeam(t, c, room, 10*time.Second, "recording.server stopped when the room closed", func(st roomcast.BeamState) bool {
		return st.Recording.Server.State == roomcast.RecordingStateStopped
	})
	if !strings.Contains(st.Recording.Server.Reason, "closed") {
		t.Errorf("reason = %q, want the room closing", st.Recording.Server.Reason)
	}
	rec := onlyRecording(t, c, room, roomcast.RecordingKindTracks)
	man := downloadRecording(t, s, rec, t.TempDir())
	if len(man.Tracks) != 2 || man.EndedAt == nil {
		t.Errorf("manifest: %d tracks, endedAt %v; want alice's 2 tracks and an end", len(man.Tracks), man.EndedAt)
	}
}

func checkTrack(t *testing.T, dir string, tr trackrec.ManifestTrack, codec string, sent, inFlight int, length time.Duration) {
	t.Helper()
	if tr.File == "" {
		t.Errorf("no file for %s/%s", tr.Identity, tr.Kind)
		return
	}
	path := filepath.Join(dir, tr.File)
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,nb_read_frames:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Errorf("ffprobe %s: %v", tr.File, err)
		return
	}
	var p struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	json.Unmarshal(out, &p)
	if len(p.Streams) != 1 || p.Streams[0].Codec != codec {
		t.Errorf("%s: streams %+v, want one %s stream", tr.File, p.Streams, codec)
		return
	}
	frames, _ := strconv.Atoi(p.Streams[0].Frames)
	if frames != tr.Frames || frames > sent || frames < sent-inFlight {
		t.Errorf("%s: %d frames in the file, %d in the manifest; %d were sent", tr.File, frames, tr.Frames, sent)
	}
	if codec == "vp8" {
		// Seekable: the Cues element (ID 1C 53 BB 6B) was written on close.
		if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte{0x1C, 0x53, 0xBB, 0x6B}) {
			t.Errorf("%s has no Cues (seek index)", tr.File)
		}
	}
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	want := length.Seconds()
	if tr.Kind == "audio" {
		want = float64(frames) * 0.02
	}
	if dur < want-0.5 || dur > want+0.5 {
		t.Errorf("%s: duration %.2f s, want %.2f ± 0.5", tr.File, dur, want)
	}
	if ms := float64(tr.DurationMs) / 1000; ms < want-0.5 || ms > want+0.5 {
		t.Errorf("%s: manifest durationMs %d, want %.2f s ± 0.5", tr.File, tr.DurationMs, want)
	}
}

// decodedSeconds decodes a whole file and returns the media time reached.
func decodedSeconds(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-progress", "pipe:1", "-").Output()
	if err != nil {
		t.Errorf("decode %s: %v", path, err)
		return 0
	}
	var us float64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "out_time_us="); ok {
			us, _ = strconv.ParseFloat(v, 64)
		}
	}
	return us / 1e6
}

func onlyRecording(t *testing.T, c *roomcast.Client, room string, kind roomcast.RecordingKind) roomcast.Recording {
	t.Helper()
	var rec roomcast.Recording
	testkit.WaitFor(t, 15*time.Second, "a ready recording", func() bool {
		recs, err := c.Recordings(context.Background(), room)
		if err != nil || len(recs) != 1 || recs[0].Status != roomcast.RecordingPhaseReady {
			return false
		}
		rec = recs[0]
		return true
	})
	if rec.Kind != kind {
		t.Fatalf("recording kind = %s, want %s", rec.Kind, kind)
	}
	return rec
}

// downloadRecording fetches every file of rec through the API into dir and
// returns its manifest.
func downloadRecording(t *testing.T, s *server, rec roomcast.Recording, dir string) trackrec.Manifest {
	t.Helper()
	tok := s.token(t, "--management")
	for _, f := range rec.Files {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/recordings/%s/files/%s", s.URL, rec.ID, f.Name), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("download %s: %v %v", f.Name, err, resp)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if int64(len(b)) != f.Size {
			t.Errorf("%s: downloaded %d bytes, listed %d", f.Name, len(b), f.Size)
		}
		os.WriteFile(filepath.Join(dir, f.Name), b, 0o644)
	}
	man, err := trackrec.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return man
}

func isCode(err error, code string) bool {
	e, ok := err.(*roomcast.Error)
	return ok && e.Code == code
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// ptrText shows an optional number.
func ptrText(p *int64) string {
	if p == nil {
		return "none"
	}
	return strconv.FormatInt(*p, 10)
}
