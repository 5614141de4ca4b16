package e2e

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/avcheck"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Destinations change while live: a job that streams to A and records
// gets B added (B receives within a few seconds, A sees no gap), then B
// removed (B's stream ends, A and the recording go on). Bad changes are
// refused with the field named, and nothing changes. Meanwhile the
// thumbnail shows the output, moving, and the recording gets a poster.
func TestDestinationsAndPicturesWhileLive(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	a := testkit.StartFFmpegRTMP(t, "key-a-"+secretKey)
	b := testkit.StartFFmpegRTMP(t, "key-b-"+secretKey)
	hooks := newHookReceiver(t)
	s := startServer(t, "--webhook-url", hooks.URL)
	hooks.secret = []byte(strings.TrimSpace(readFile(t, filepath.Join(s.data, "secret"))))
	beamRoom(t, s, "live")
	c := client(t, s)
	ctx := testContext(t, 3*time.Minute)
	if _, err := c.Thumbnail(ctx, "live"); !isCode(err, "not_found") {
		t.Errorf("thumbnail with nothing running: %v, want not_found", err)
	}
	if _, err := c.StartRTMPOrRecording(ctx, "live", roomcast.StartParams{RTMPURLs: []string{a.URL()}, Record: true,
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "live", 40*time.Second, "streaming to A", func(st roomcast.BeamState) bool {
		return st.RTMP.Running && allDestinations(st, roomcast.DestinationStarted)
	})
	started := *st.RTMP.StartedAt
	first := thumbnail(t, c, "live")
	time.Sleep(3 * time.Second) // A alone

	// Refused, nothing changed: a bad URL, A again.
	for _, bad := range []string{"http://example.com/live/x", a.URL()} {
		_, err := c.AddDestination(ctx, "live", bad)
		if !isCode(err, "invalid_argument") || !strings.Contains(err.Error(), "url") || strings.Contains(err.Error(), secretKey) {
			t.Errorf("add %s: %v, want invalid_argument naming url", strings.SplitN(bad, "/", 4)[2], err)
		}
	}
	if st, _ := c.BeamState(ctx, "live"); len(st.RTMP.Destinations) != 1 {
		t.Fatalf("refused adds changed the destinations: %+v", st.RTMP.Destinations)
	}

	addedAt := time.Now()
	st, err := c.AddDestination(ctx, "live", b.URL())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.RTMP.Destinations) != 2 || strings.Contains(st.RTMP.Destinations[1].URL, secretKey) {
		t.Fatalf("after the add: %+v", st.RTMP.Destinations)
	}
	waitBeam(t, c, "live", 10*time.Second, "B started", func(st roomcast.BeamState) bool { return allDestinations(st, roomcast.DestinationStarted) })
	t.Logf("B started %v after the add", time.Since(addedAt).Round(10*time.Millisecond))
	if took := time.Since(addedAt); took > 5*time.Second {
		t.Errorf("B took %v to start, want within 5 s", took)
	}
	time.Sleep(4 * time.Second) // both
	if d := mostChanged(first, thumbnail(t, c, "live")); d < 8 {
		t.Errorf("two thumbnails 7 s apart differ by %.1f levels at most (16x16 block means): the picture does not follow the output", d)
	}

	removedAt := time.Now()
	st, err = c.RemoveDestination(ctx, "live", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.RTMP.Destinations) != 1 || !st.RTMP.Running || !st.Recording.Browser.Running {
		t.Fatalf("after removing B: %+v", st)
	}
	if _, err := c.RemoveDestination(ctx, "live", 1); !isCode(err, "not_found") {
		t.Errorf("removing B again: %v, want not_found", err)
	}
	time.Sleep(3 * time.Second) // A alone again
	stoppedAt := time.Now()
	if _, err := c.StopRTMPAndRecording(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "live", 30*time.Second, "stopped", func(st roomcast.BeamState) bool { return st.RTMP.State == roomcast.StreamingStateStopped })
	if _, err := c.Thumbnail(ctx, "live"); !isCode(err, "not_found") {
		t.Errorf("thumbnail after the stop: %v, want not_found", err)
	}
	// The recording has a poster: a picture of the room, at its size.
	rec := waitRecording(t, c, "live", 60*time.Second)
	if !slices.ContainsFunc(rec.Files, func(f roomcast.RecordingFile) bool { return f.Name == "poster.jpg" }) {
		t.Fatalf("recording files %+v: no poster.jpg", rec.Files)
	}
	status, body := api(t, s, "GET", "/v1/recordings/"+rec.ID+"/files/poster.jpg", s.token(t, "--management"), "")
	poster, err := jpeg.Decode(strings.NewReader(body))
	if status != 200 || err != nil {
		t.Fatalf("poster: %d %v", status, err)
	}
	if b := poster.Bounds(); b.Dx() != 640 || b.Dy() != 360 || lumaVariance(poster) < 20 {
		t.Errorf("poster %v, luma variance %.0f: want 640x360 showing the room", b, lumaVariance(poster))
	}

	// B got what was sent between the add and the removal.
	bFile, aFile := b.File(), a.File()
	testkit.WaitFor(t, 15*time.Second, "both ingests to finish their files", func() bool {
		return strings.Contains(b.Log(), "muxing overhead") && strings.Contains(a.Log(), "muxing overhead")
	})
	bA, err := avcheck.Analyze(ctx, bFile)
	if err != nil {
		t.Fatal(err)
	}
	wantB := removedAt.Sub(addedAt).Seconds()
	t.Logf("B received %.1f s (added for %.1f s)", bA.VideoSpan(), wantB)
	// (It starts at the latest keyframe, which the fan-out keeps: a GOP
	// (2 s) earlier at most.)
	if d := bA.VideoSpan(); d < wantB-1 || d > wantB+2.5 {
		t.Errorf("B received %.1f s of video, want about %.1f s", d, wantB)
	}
	// A never noticed: one picture timeline over the whole job, no still
	// stretch at the add or the removal.
	aA, err := avcheck.Analyze(ctx, aFile)
	if err != nil {
		t.Fatal(err)
	}
	ran := stoppedAt.Sub(started).Seconds()
	end := aA.VideoSpan()
	t.Logf("A received %.1f s of the job's %.1f s", end, ran)
	if end < ran-2 {
		t.Errorf("A received %.1f s, the job ran %.1f s", end, ran)
	}
	if f := aA.Freezes(0.5, end-0.5, 1); len(f) > 0 {
		t.Errorf("A's picture stood still: %+v (add at %.1f s, removal at %.1f s)", f, addedAt.Sub(started).Seconds(), removedAt.Sub(started).Seconds())
	}

	// Webhooks: added, removed, with redacted URLs.
	var added, removed bool
	testkit.WaitFor(t, 15*time.Second, "the destination webhooks", func() bool {
		for _, e := range hooks.all() {
			added = added || e.Event == roomcast.EventBeamDestinationAdded && e.Destination != nil
			removed = removed || e.Event == roomcast.EventBeamDestinationRemoved && e.Index != nil && *e.Index == 1
		}
		return added && removed
	})
	for _, body := range hooks.bodies() {
		if strings.Contains(body, secretKey) {
			t.Fatalf("a webhook carries the stream key: %s", body)
		}
	}
	if strings.Contains(s.Logs(), secretKey) {
		t.Error("the server logged the stream key")
	}
}

// thumbnail fetches room's thumbnail and checks it is a picture of the
// output: a JPEG at the job's size, not one flat colour.
func thumbnail(t *testing.T, c *roomcast.Client, room string) image.Image {
	t.Helper()
	b, err := c.Thumbnail(context.Background(), room)
	if err != nil {
		t.Fatalf("thumbnail: %v", err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if bd := img.Bounds(); bd.Dx() != 640 || bd.Dy() != 360 || lumaVariance(img) < 20 {
		t.Errorf("thumbnail %v, luma variance %.0f: want 640x360 showing the room", bd, lumaVariance(img))
	}
	return img
}

// mostChanged is the largest mean absolute luma difference of two
// same-sized pictures over any 16x16 block: the moving part of the
// fake camera (its rotating sector, its counter) shows as tens of levels,
// JPEG noise as one or two. (A mean over the whole picture was diluted by
// the still rest to ~1 level, and read 0.88 on a picture that moved.)
func mostChanged(a, b image.Image) float64 {
	luma := func(img image.Image, x, y int) float64 {
		r, g, bl, _ := img.At(x, y).RGBA()
		return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
	}
	bd := a.Bounds()
	most := 0.0
	for by := bd.Min.Y; by+16 <= bd.Max.Y; by += 16 {
		for bx := bd.Min.X; bx+16 <= bd.Max.X; bx += 16 {
			sum := 0.0
			for y := by; y < by+16; y++ {
				for x := bx; x < bx+16; x++ {
					sum += math.Abs(luma(a, x, y) - luma(b, x, y))
				}
			}
			most = max(most, sum/256)
		}
	}
	return most
}
