package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// bigFile is over two part sizes: a multipart upload of three parts.
const bigFile = 2*DefaultPartSize + 123_457

func TestS3UploadsMultipartByteIdentical(t *testing.T) {
	srv := testkit.StartS3(t, "recordings")
	recs := openRecordings(t)
	var ready readyEvents
	u := NewUploader(recs, newS3(t, srv), ready.add, captureLogs(t))
	id, data := finished(t, recs, map[string]int{"composite.mp4": bigFile, "manifest.json": 300})

	if err := u.Upload(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	rec := mustGet(t, recs, id)
	wantLoc := "s3://recordings/rc/" + id + "/"
	if rec.Status != roomcast.RecordingPhaseReady || rec.Location != wantLoc || rec.Error != "" || rec.Size != bigFile+300 {
		t.Fatalf("after Upload: %+v; want ready at %s", rec, wantLoc)
	}
	if got := srv.Parts(); got < 3 {
		t.Errorf("%d UploadPart requests; want a multipart upload of at least 3 parts", got)
	}
	for name, want := range data {
		if got, ok := srv.Object(t, "rc/"+id+"/"+name); !ok || !bytes.Equal(got, want) {
			t.Errorf("%s in the bucket: %d bytes (exists %v), want the %d recorded bytes", name, len(got), ok, len(want))
		}
	}
	// The bucket describes the recording too.
	meta, ok := srv.Object(t, "rc/"+id+"/recording.json")
	var stored roomcast.Recording
	if !ok || json.Unmarshal(meta, &stored) != nil || stored.Status != roomcast.RecordingPhaseReady || stored.Location != wantLoc {
		t.Errorf("recording.json in the bucket: %s", meta)
	}
	// Local media are gone; the index still lists the recording.
	dir, _ := recs.Dir(id)
	if _, err := os.Stat(filepath.Join(dir, "composite.mp4")); !os.IsNotExist(err) {
		t.Errorf("local composite.mp4 kept after upload: %v", err)
	}
	if list, err := recs.List("demo"); err != nil || len(list) != 1 || len(list[0].Files) != 2 {
		t.Errorf("List() = %+v, %v", list, err)
	}
	if ev := ready.list(); len(ev) != 1 || ev[0].Location != wantLoc {
		t.Errorf("ready events %+v; want one with the location", ev)
	}
}

func TestS3FailedUploadKeepsFilesAndIsRetried(t *testing.T) {
	srv := testkit.StartS3(t, "recordings")
	recs := openRecordings(t)
	var ready readyEvents
	u := NewUploader(recs, newS3(t, srv), ready.add, captureLogs(t))
	u.Attempts, u.Backoff = 2, 10*time.Millisecond
	u.RetryEvery, u.MaxRetryDelay = 100*time.Millisecond, 200*time.Millisecond
	id, data := finished(t, recs, map[string]int{"composite.mp4": bigFile})

	// Part 2 fails for both tries and the first background retry.
	srv.FailParts.Store(3)
	if err := u.Upload(context.Background(), id); err == nil {
		t.Fatal("Upload succeeded through injected faults")
	}
	rec := mustGet(t, recs, id)
	if rec.Status != roomcast.RecordingPhaseUploadFailed || !strings.Contains(rec.Error, "upload") || rec.Location != "" {
		t.Fatalf("after a failed upload: %+v; want upload_failed with the reason", rec)
	}
	if strings.Contains(rec.Error, secretKey) {
		t.Errorf("the reason shows the secret key: %q", rec.Error)
	}
	path, err := recs.File(id, "composite.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, data["composite.mp4"]) {
		t.Fatalf("the local file did not survive the failed upload intact: %v", err)
	}
	if srv.Parts() < 2 {
		t.Errorf("%d parts reached the server; the upload should have failed halfway", srv.Parts())
	}
	if keys := srv.Keys(t, "rc/"+id+"/"); len(keys) != 0 {
		t.Errorf("a failed upload left objects %q", keys)
	}
	if len(ready.list()) != 0 {
		t.Error("recording.ready for a failed upload")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	testkit.WaitFor(t, 10*time.Second, "the background retry to upload the recording", func() bool {
		return mustGet(t, recs, id).Status == roomcast.RecordingPhaseReady
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, ok := srv.Object(t, "rc/"+id+"/composite.mp4"); !ok || !bytes.Equal(got, data["composite.mp4"]) {
		t.Errorf("after the retry the bucket has %d bytes (exists %v), want the recorded %d", len(got), ok, bigFile)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("local copy kept after the retry succeeded: %v", err)
	}
	if rec := mustGet(t, recs, id); rec.Error != "" || rec.Location != "s3://recordings/rc/"+id+"/" {
		t.Errorf("after the retry: %+v", rec)
	}
	if len(ready.list()) != 1 {
		t.Errorf("%d ready events; want exactly one", len(ready.list()))
	}
}

func TestS3PresignedURLAndDelete(t *testing.T) {
	srv := testkit.StartS3(t, "recordings")
	recs := openRecordings(t)
	s := newS3(t, srv)
	u := NewUploader(recs, s, nil, captureLogs(t))
	id, data := finished(t, recs, map[string]int{"composite.mp4": 70_000})
	other, _ := finished(t, recs, map[string]int{"composite.mp4": 10})
	for _, r := range []string{id, other} {
		if err := u.Upload(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	loc := mustGet(t, recs, id).Location

	link, err := s.URL(context.Background(), loc, "composite.mp4", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(link)
	if !strings.HasPrefix(link, srv.URL+"/recordings/rc/"+id+"/composite.mp4?") || q.Query().Get("X-Amz-Signature") == "" || q.Query().Get("X-Amz-Expires") != "300" {
		t.Errorf("presigned URL %s", logging.Redact(link))
	}
	if strings.Contains(link, secretKey) {
		t.Error("the presigned URL holds the secret key")
	}
	if code, b := get(t, link); code != 200 || !bytes.Equal(b, data["composite.mp4"]) {
		t.Errorf("GET presigned URL: %d, %d bytes; want 200 and the recorded bytes", code, len(b))
	}

	if err := s.Delete(context.Background(), loc); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Keys(t, "rc/"+id+"/"); len(keys) != 0 {
		t.Errorf("objects left after Delete: %q", keys)
	}
	if keys := srv.Keys(t, "rc/"+other+"/"); len(keys) != 2 {
		t.Errorf("Delete touched another recording: %q left", keys)
	}
	for _, bad := range []string{"", "s3://", "s3://bucket", "s3://bucket/", "http://x/y/", "s3://b/no-slash"} {
		if err := s.Delete(context.Background(), bad); err == nil {
			t.Errorf("Delete(%q) accepted a malformed location", bad)
		}
	}
}

func TestS3ConfigValidate(t *testing.T) {
	ok := S3Config{Bucket: "b", AccessKey: "a", SecretKey: secretKey}
	with := func(f func(*S3Config)) S3Config { c := ok; f(&c); return c }
	tests := []struct {
		name string
		cfg  S3Config
		want string // "" means valid
	}{
		{"disabled", S3Config{}, ""},
		{"aws default endpoint", ok, ""},
		{"host port", with(func(c *S3Config) { c.Endpoint = "minio.local:9000" }), ""},
		{"http url", with(func(c *S3Config) { c.Endpoint = "http://127.0.0.1:9000" }), ""},
		{"https url with slash", with(func(c *S3Config) { c.Endpoint = "https://s3.example.com/" }), ""},
		{"url with path", with(func(c *S3Config) { c.Endpoint = "https://s3.example.com/bucket" }), "--s3-endpoint"},
		{"ftp", with(func(c *S3Config) { c.Endpoint = "ftp://s3.example.com" }), "--s3-endpoint"},
		{"host with path", with(func(c *S3Config) { c.Endpoint = "s3.example.com/x" }), "--s3-endpoint"},
		{"environment credentials", with(func(c *S3Config) { c.AccessKey, c.SecretKey = "", "" }), ""},
		{"access key alone", with(func(c *S3Config) { c.SecretKey = "" }), "--s3-access-key and --s3-secret-key go together"},
		{"secret alone", with(func(c *S3Config) { c.AccessKey = "" }), "--s3-access-key and --s3-secret-key"},
		{"prefix", with(func(c *S3Config) { c.Prefix = "roomcast/recordings" }), ""},
		{"leading slash", with(func(c *S3Config) { c.Prefix = "/x" }), "--s3-prefix"},
		{"small parts", with(func(c *S3Config) { c.PartSize = 1 << 20 }), "5 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), secretKey) {
				t.Errorf("error shows the secret key: %v", err)
			}
		})
	}
}

func TestS3ConfigNeverShowsSecret(t *testing.T) {
	cfg := S3Config{Endpoint: "minio:9000", Bucket: "b", AccessKey: accessKey, SecretKey: logging.Secret(secretKey)}
	var buf bytes.Buffer
	log, err := logging.New(&buf, "json", slog.LevelDebug)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("recordings go to S3", "s3", cfg)
	out := buf.String() + fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)
	if strings.Contains(out, secretKey) {
		t.Errorf("the secret key shows:\n%s", out)
	}
	if !strings.Contains(buf.String(), `"bucket":"b"`) {
		t.Errorf("the log lost the bucket: %s", buf.String())
	}
}
