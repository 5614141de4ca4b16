package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/avcheck"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// An audio-only job carries the room's sound and nothing else: the ingest
// gets one AAC stream with the person's (fake mic's) beeps in it, the
// recording is composite.m4a, as long as the job ran, beeping throughout,
// with no poster. Nothing asks it for a picture: a start naming a
// resolution is refused, a layout change is 409 and the thumbnail 404.
func TestAudioOnlyJobCarriesTheRoomsSound(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	ingest := testkit.StartFFmpegRTMP(t, "radio-"+secretKey)
	s := startServer(t)
	beamRoom(t, s, "radio")
	c := client(t, s)
	ctx := testContext(t, 2*time.Minute)
	_, err := c.StartRTMPOrRecording(ctx, "radio", roomcast.StartParams{AudioOnly: true, Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}})
	if !isCode(err, "invalid_argument") || !strings.Contains(err.Error(), "resolution") {
		t.Errorf("audio-only with a resolution: %v, want invalid_argument naming resolution", err)
	}
	if _, err := c.StartRTMPOrRecording(ctx, "radio", roomcast.StartParams{AudioOnly: true, Record: true, RTMPURLs: []string{ingest.URL()}}); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "radio", 40*time.Second, "streaming and recording", func(st roomcast.BeamState) bool {
		return st.RTMP.Running && st.Recording.Browser.Running && allDestinations(st, roomcast.DestinationStarted)
	})
	if !st.AudioOnly || st.Layout != "" {
		t.Errorf("state audioOnly %v, layout %q; want audio-only with no layout", st.AudioOnly, st.Layout)
	}
	if _, err := c.SetLayout(ctx, "radio", roomcast.LayoutSpeaker); !isCode(err, "conflict") {
		t.Errorf("layout change of an audio-only job: %v, want conflict", err)
	}
	if _, err := c.Thumbnail(ctx, "radio"); !isCode(err, "not_found") {
		t.Errorf("thumbnail of an audio-only job: %v, want not_found", err)
	}
	time.Sleep(8 * time.Second) // the job's length
	stopAt := time.Now()
	if _, err := c.StopRTMPAndRecording(ctx, "radio"); err != nil {
		t.Fatal(err)
	}
	ran := stopAt.Sub(*st.Recording.Browser.StartedAt).Seconds()

	rec := waitRecording(t, c, "radio", 60*time.Second)
	var names []string
	for _, f := range rec.Files {
		names = append(names, f.Name)
	}
	if !slices.Contains(names, "composite.m4a") || slices.Contains(names, "poster.jpg") || slices.Contains(names, "composite.mp4") {
		t.Errorf("recording files %v; want composite.m4a and no picture", names)
	}
	// Through the Go SDK: the recording, its file, and (at the end) its deletion.
	if got, err := c.Recording(ctx, rec.ID); err != nil || got.ID != rec.ID || got.Status != roomcast.RecordingPhaseReady {
		t.Fatalf("Recording(%s): %+v, %v", rec.ID, got, err)
	}
	var m4a bytes.Buffer
	if err := c.DownloadFile(ctx, rec.ID, "composite.m4a", &m4a); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "composite.m4a")
	if err := os.WriteFile(file, m4a.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.DeleteRecording(ctx, rec.ID); err != nil {
			t.Errorf("DeleteRecording: %v", err)
		}
		if _, err := c.Recording(ctx, rec.ID); !isCode(err, "not_found") {
			t.Errorf("the recording after its deletion: %v, want not_found", err)
		}
	}()
	soundOnly(t, "the recording", file)
	a, err := avcheck.Analyze(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	dur := rec.Duration
	gap := beepGap(a.Beeps(), 0, dur)
	t.Logf("recording %.2f s of the job's %.2f s, %d beeps at %.1f dBFS, longest time without one %.2f s", dur, ran, len(a.Beeps()), a.LoudLevel(), gap)
	if dur < ran-0.75 || dur > ran+0.75 {
		t.Errorf("the recording lasts %.2f s, the job ran %.2f s", dur, ran)
	}
	if len(a.Beeps()) < int(ran)-2 || gap > 1.6 || a.LoudLevel() < -40 {
		t.Errorf("the recording has %d beeps (job %.1f s) at %.1f dBFS, longest gap %.2f s: the room's sound is not all there", len(a.Beeps()), ran, a.LoudLevel(), gap)
	}

	testkit.WaitFor(t, 15*time.Second, "the ingest to finish its file", func() bool { return strings.Contains(ingest.Log(), "muxing overhead") })
	soundOnly(t, "the ingest", ingest.File())
	ia, err := avcheck.Analyze(ctx, ingest.File())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ingest: %d beeps at %.1f dBFS", len(ia.Beeps()), ia.LoudLevel())
	if len(ia.Beeps()) < int(ran)-2 || ia.LoudLevel() < -40 {
		t.Errorf("the ingest got %d beeps at %.1f dBFS over a %.1f s job", len(ia.Beeps()), ia.LoudLevel(), ran)
	}
}

// soundOnly fails unless file has exactly one stream, AAC.
func soundOnly(t *testing.T, what, file string) {
	t.Helper()
	p, err := testkit.FFprobe(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "aac" {
		t.Errorf("%s has streams %+v; want one AAC stream and no video", what, p.Streams)
	}
}

// beepGap is the longest time between beeps (and from..to's ends).
func beepGap(beeps []float64, from, to float64) float64 {
	gap, last := 0.0, from
	for _, b := range append(beeps, to) {
		gap, last = max(gap, b-last), b
	}
	return gap
}
