package composite

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/avcheck"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// An audio-only job encodes the sink's sound alone: the RTMP ingest gets
// one AAC stream and no video, the recording is an .m4a with the sound
// only, as long as the job ran, the tone whole at its level.
func TestAudioOnlyStreamsAndRecordsSoundAlone(t *testing.T) {
	testkit.Need(t, "Xvfb", "pulseaudio", "ffmpeg", "ffprobe", "nginx")
	ingest := testkit.StartRTMP(t)
	sb := toneSandbox(t)
	dir := t.TempDir()
	part, out := filepath.Join(dir, partName), filepath.Join(dir, audioRecordingName)
	url := ingest.URL("audio-only-key")
	job := jobs.Job{ID: "t", Room: "r", Params: roomcast.StartParams{Record: true, AudioOnly: true, RTMPURLs: []string{url}}}
	j := startStreaming(sb, outputsConfig{encoder: EncoderConfig{AudioOnly: true}, recording: part}, job)
	j.p.waitDest(t, 0, roomcast.DestinationStarted, 20*time.Second)

	// What the ingest serves: one AAC stream, nothing else, and the tone in it.
	pulled := filepath.Join(t.TempDir(), "pulled.m4a")
	pull := exec.Command("ffmpeg", "-v", "error", "-rw_timeout", "8000000", "-i", url, "-t", "3", "-c", "copy", "-y", pulled)
	if b, err := pull.CombinedOutput(); err != nil {
		t.Fatalf("pull the stream: %v: %s", err, b)
	}
	pr, err := testkit.FFprobe(pulled)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Streams) != 1 || pr.Streams[0].CodecName != "aac" {
		t.Errorf("the ingest serves %+v; want one AAC stream and no video", pr.Streams)
	}
	if a, err := avcheck.Analyze(context.Background(), pulled); err != nil {
		t.Fatal(err)
	} else if tone := a.ToneLevel(); tone < -15 || tone > -9 {
		t.Errorf("the -12 dBFS tone reaches the ingest at %.1f dBFS", tone)
	}
	ran, dur := stopAndFinalize(t, j, part, out)
	if pr, err = testkit.FFprobe(out); err != nil {
		t.Fatal(err)
	}
	if len(pr.Streams) != 1 || pr.Streams[0].CodecName != "aac" {
		t.Errorf("the recording has %+v; want one AAC stream", pr.Streams)
	}
	a, err := avcheck.Analyze(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	quietest := 0.0
	soundFrom := pr.StartTime("audio")
	for _, w := range a.Audio {
		if w.T >= soundFrom+0.1 && w.T < dur.Seconds()-0.1 {
			quietest = min(quietest, w.RMS)
		}
	}
	t.Logf("recording %.2fs (job %.2fs), tone %.1f dBFS, quietest 5 ms %.1f dB", dur.Seconds(), ran, a.ToneLevel(), quietest)
	if d := dur.Seconds(); d < ran-0.5 || d > ran+0.5 {
		t.Errorf("the recording lasts %.2fs; its first sound was captured %.2fs before the stop", d, ran)
	}
	if tone := a.ToneLevel(); tone < -15 || tone > -9 {
		t.Errorf("the -12 dBFS tone is recorded at %.1f dBFS", tone)
	}
	if quietest < -25 {
		t.Errorf("a 5 ms window of the recording is at %.1f dB: the tone has a hole", quietest)
	}
	if hasVideo(out) {
		t.Error("the recording has a video stream")
	}
}
