package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// s3SecretKey is the bucket's secret; it must never reach the server log.
const s3SecretKey = "e2e-s3-secret-Hq72-must-not-be-logged"

// A recording with its own maxDuration stops on its own, is uploaded to an
// S3-compatible server (a real HTTP server in this process, spoken to by
// the binary's minio-go client), is announced with its location, downloads
// through a presigned redirect, and its delete removes the objects.
func TestRecordingGoesToS3(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "ffprobe", "chromium")
	bucket := testkit.StartS3(t, "media")
	hooks := newHookReceiver(t)
	t.Setenv("ROOMCAST_S3_SECRET_KEY", s3SecretKey)
	s := startServer(t, "--webhook-url", hooks.URL, "--s3-endpoint", bucket.URL, "--s3-bucket", "media",
		"--s3-path-style", "--s3-prefix", "e2e/", "--s3-access-key", "E2EACCESS", "--s3-region", "us-east-1")
	hooks.secret = []byte(strings.TrimSpace(readFile(t, filepath.Join(s.data, "secret"))))
	c := client(t, s)
	params := roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}, MaxDuration: 4}
	if _, err := c.StartRTMPOrRecording(context.Background(), "bucket", params); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "bucket", 60*time.Second, "stopped at its maxDuration", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStopped
	})
	if !strings.Contains(st.Recording.Browser.Reason, "maximum duration of 4s") {
		t.Errorf("reason %q; want the start's maximum duration of 4s", st.Recording.Browser.Reason)
	}
	rec := waitRecording(t, c, "bucket", 30*time.Second)
	if want := "s3://media/e2e/" + rec.ID + "/"; rec.Location != want || len(rec.Files) != 2 ||
		rec.Files[0].Name != "composite.mp4" || rec.Files[1].Name != "poster.jpg" {
		t.Fatalf("ready recording %+v; want composite.mp4 and poster.jpg at %s", rec, want)
	}
	stored, ok := bucket.Object(t, "e2e/"+rec.ID+"/composite.mp4")
	if !ok || int64(len(stored)) != rec.Files[0].Size {
		t.Fatalf("bucket has %d bytes (exists %v); the recording lists %d", len(stored), ok, rec.Files[0].Size)
	}
	if poster, ok := bucket.Object(t, "e2e/"+rec.ID+"/poster.jpg"); !ok || int64(len(poster)) != rec.Files[1].Size {
		t.Errorf("bucket's poster: %d bytes (exists %v); the recording lists %d", len(poster), ok, rec.Files[1].Size)
	}
	if _, err := os.Stat(filepath.Join(s.data, "recordings", rec.ID, "composite.mp4")); !os.IsNotExist(err) {
		t.Errorf("the local copy is still there after the upload: %v", err)
	}

	// Download: 307 to a presigned URL that serves the stored, playable file.
	mgmt := s.token(t, "--management")
	req, _ := http.NewRequest("GET", s.URL+"/v1/recordings/"+rec.ID+"/files/composite.mp4", nil)
	req.Header.Set("Authorization", "Bearer "+mgmt)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, bucket.URL+"/media/e2e/"+rec.ID+"/composite.mp4?") {
		t.Fatalf("download answered %d, Location %q; want 307 to the presigned object URL", resp.StatusCode, loc)
	}
	got := httpGet(t, loc)
	if !bytes.Equal(got, stored) {
		t.Fatalf("the presigned URL served %d bytes, not the %d stored", len(got), len(stored))
	}
	file := filepath.Join(t.TempDir(), "composite.mp4")
	os.WriteFile(file, got, 0o644)
	if d := probeDuration(t, file); d < 2 || d > 8 {
		t.Errorf("downloaded recording lasts %.1f s; want about 4", d)
	}

	// recording.ready carries the location.
	evs := hooks.wait(t, 3, 20*time.Second)
	if last := evs[len(evs)-1]; last.Event != roomcast.EventRecordingReady || last.Recording == nil || last.Recording.Location != rec.Location {
		t.Errorf("last webhook %+v; want recording.ready with the location", last)
	}
	// /metrics counts the upload and the deliveries.
	metrics := string(httpGet(t, s.URL+"/metrics"))
	if v, ok := metricValue(metrics, "roomcast_upload_bytes_total"); !ok || v != float64(rec.Size) {
		t.Errorf("/metrics roomcast_upload_bytes_total = %v (found %v), want the recording's %d bytes", v, ok, rec.Size)
	}
	if v, ok := metricValue(metrics, "roomcast_webhook_deliveries_total"); !ok || v < 3 {
		t.Errorf("/metrics roomcast_webhook_deliveries_total = %v (found %v), want at least the 3 events", v, ok)
	}

	if status, body := api(t, s, "DELETE", "/v1/recordings/"+rec.ID, mgmt, ""); status != 200 {
		t.Fatalf("delete: %d %s", status, body)
	}
	if keys := bucket.Keys(t, "e2e/"+rec.ID+"/"); len(keys) != 0 {
		t.Errorf("objects left after delete: %q", keys)
	}
	if strings.Contains(s.Logs(), s3SecretKey) {
		t.Error("the server log carries the S3 secret key")
	}
}

func httpGet(t testing.TB, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET presigned URL: %d, %v", resp.StatusCode, err)
	}
	return b
}

func probeDuration(t *testing.T, file string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", out, err)
	}
	return d
}
