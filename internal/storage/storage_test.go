package storage

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Credentials of the test bucket; the secret must never be logged.
const (
	accessKey = "ROOMCASTTESTACCESS"
	secretKey = "s3cr3t-Wd9xQ2-never-in-logs-7Yb"
)

// captureLogs returns a debug-level production logger writing to a buffer
// that, at the end of the test, must not hold the secret key.
func captureLogs(t *testing.T) *slog.Logger {
	t.Helper()
	buf := &testkit.LogBuffer{}
	log, err := logging.New(buf, "text", slog.LevelDebug)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out := buf.String(); strings.Contains(out, secretKey) {
			t.Errorf("the S3 secret key was logged:\n%s", out)
		} else if out == "" {
			t.Error("nothing was logged; the secret check proves nothing")
		}
	})
	return log
}

// s3Config is the configuration of srv's bucket: path style, no client
// retries of its own (so one injected 500 fails the upload), prefix rc/.
func s3Config(srv *testkit.S3Server) S3Config {
	return S3Config{Endpoint: srv.URL, Bucket: srv.Bucket, Region: "us-east-1", AccessKey: accessKey,
		SecretKey: logging.Secret(secretKey), Prefix: "rc", PathStyle: true, MaxRetries: 1}
}

// finished makes a recording whose files are written and indexed (status
// processing), as the composite runner leaves it, and returns the files'
// bytes by name.
func finished(t *testing.T, recs *recordings.Store, sizes map[string]int) (string, map[string][]byte) {
	t.Helper()
	id, dir, err := recs.Begin("demo", roomcast.RecordingKindComposite, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{}
	for name, n := range sizes {
		b := make([]byte, n)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
		data[name] = b
	}
	if err := recs.Index(id, 12.5); err != nil {
		t.Fatal(err)
	}
	return id, data
}

func openRecordings(t *testing.T) *recordings.Store {
	t.Helper()
	recs, err := recordings.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func newS3(t *testing.T, srv *testkit.S3Server) *S3 {
	t.Helper()
	s, err := NewS3(s3Config(srv))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readyEvents counts the recordings OnReady was told about.
type readyEvents struct {
	mu   sync.Mutex
	recs []roomcast.Recording
}

func (e *readyEvents) add(rec roomcast.Recording) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recs = append(e.recs, rec)
}

func (e *readyEvents) list() []roomcast.Recording {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]roomcast.Recording(nil), e.recs...)
}

// get fetches u with a plain client (no Authorization header).
func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func mustGet(t *testing.T, recs *recordings.Store, id string) roomcast.Recording {
	t.Helper()
	rec, err := recs.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestLocalKeepsFilesWhereTheyAre(t *testing.T) {
	recs := openRecordings(t)
	var ready readyEvents
	u := NewUploader(recs, Local{}, ready.add, captureLogs(t))
	id, _ := finished(t, recs, map[string]int{"composite.mp4": 1000})
	if err := u.Upload(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	rec := mustGet(t, recs, id)
	if rec.Status != roomcast.RecordingPhaseReady || rec.Location != "" || len(ready.list()) != 1 {
		t.Fatalf("after Upload: %+v, %d ready events", rec, len(ready.list()))
	}
	path, err := recs.File(id, "composite.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 1000 {
		t.Fatalf("local file: %v", err)
	}
}
