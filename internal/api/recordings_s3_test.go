package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/storage"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

const s3Secret = "api-test-s3-secret-Zk31-never-logged"

// s3Fixture is the recordings API over a local index whose recording id
// was uploaded to a real (in-process) S3 server.
type s3Fixture struct {
	*fixture
	s3   *testkit.S3Server
	recs *recordings.Store
	id   string
	data []byte
}

// newS3Fixture uploads a recording of a multipart-sized file to S3 and
// serves the API with (remote true) or without the S3 store.
func newS3Fixture(t *testing.T, remote bool) *s3Fixture {
	t.Helper()
	logs := &testkit.LogBuffer{}
	log, err := logging.New(logs, "text", slog.LevelDebug)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), s3Secret) {
			t.Errorf("the S3 secret key was logged:\n%s", logs)
		}
	})
	srv := testkit.StartS3(t, "media")
	s3, err := storage.NewS3(storage.S3Config{Endpoint: srv.URL, Bucket: "media", Prefix: "rec/", Region: "us-east-1",
		AccessKey: "APITESTACCESS", SecretKey: logging.Secret(s3Secret), PathStyle: true, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := recordings.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, dir, err := recs.Begin("a", roomcast.RecordingKindComposite, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, storage.DefaultPartSize+4321)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "composite.mp4"), data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := recs.Index(id, 9); err != nil {
		t.Fatal(err)
	}
	if err := storage.NewUploader(recs, s3, nil, log).Upload(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	signer, _ := auth.NewSigner([]byte("recordings-s3-test-secret-0123456789"))
	a := New(nil, nil, signer, log).WithRecordings(recordings.Local{Store: recs})
	if remote {
		a.WithRemoteFiles(s3)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	mgmt, _ := signer.ManagementToken(time.Hour)
	return &s3Fixture{fixture: &fixture{url: hs.URL, signer: signer, mgmt: mgmt}, s3: srv, recs: recs, id: id, data: data}
}

// noFollow does one request without following redirects.
func (f *s3Fixture) noFollow(t *testing.T, method, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.mgmt)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestDownloadRedirectsToPresignedURL(t *testing.T) {
	f := newS3Fixture(t, true)
	rec, err := f.recs.Get(f.id)
	if err != nil || rec.Status != roomcast.RecordingPhaseReady || rec.Location != "s3://media/rec/"+f.id+"/" {
		t.Fatalf("uploaded recording: %+v, %v", rec, err)
	}
	resp := f.noFollow(t, "GET", "/v1/recordings/"+f.id+"/files/composite.mp4")
	var body struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || loc == "" || body.URL != loc || time.Until(body.ExpiresAt) < 10*time.Minute {
		t.Fatalf("download: %d Location %q body %+v; want 307 to a presigned URL", resp.StatusCode, logging.Redact(loc), body)
	}
	if !strings.HasPrefix(loc, f.s3.URL+"/media/rec/"+f.id+"/composite.mp4?") || !strings.Contains(loc, "X-Amz-Signature=") || strings.Contains(loc, s3Secret) {
		t.Errorf("Location %q is not a presigned URL of the object", logging.Redact(loc))
	}
	// The presigned URL serves the bytes with no roomcast token.
	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	b, _ := io.ReadAll(got.Body)
	if got.StatusCode != 200 || !bytes.Equal(b, f.data) {
		t.Errorf("GET presigned URL: %d, %d bytes; want 200 and the %d recorded bytes", got.StatusCode, len(b), len(f.data))
	}
	// A client that follows redirects (the default) gets the file.
	status, full := f.call(t, "GET", "/v1/recordings/"+f.id+"/files/composite.mp4", f.mgmt, "")
	if status != 200 || full != string(f.data) {
		t.Errorf("following the redirect: %d, %d bytes", status, len(full))
	}
	if status, body := f.call(t, "GET", "/v1/recordings/"+f.id+"/files/nope.mp4", f.mgmt, ""); status != 404 {
		t.Errorf("unknown file of an uploaded recording: %d %s", status, body)
	}
}

func TestDeleteRemovesObjects(t *testing.T) {
	f := newS3Fixture(t, true)
	if keys := f.s3.Keys(t, "rec/"+f.id+"/"); len(keys) != 2 {
		t.Fatalf("bucket before delete: %q; want the file and recording.json", keys)
	}
	status, body := f.call(t, "DELETE", "/v1/recordings/"+f.id, f.mgmt, "")
	if status != 200 {
		t.Fatalf("delete: %d %s", status, body)
	}
	if keys := f.s3.Keys(t, "rec/"+f.id+"/"); len(keys) != 0 {
		t.Errorf("objects left after delete: %q", keys)
	}
	if _, err := f.recs.Get(f.id); err == nil {
		t.Error("the local index still has the recording")
	}
}

func TestUploadedRecordingWithoutS3(t *testing.T) {
	f := newS3Fixture(t, false)
	for _, method := range []string{"GET", "DELETE"} {
		path := "/v1/recordings/" + f.id
		if method == "GET" {
			path += "/files/composite.mp4"
		}
		status, body := f.call(t, method, path, f.mgmt, "")
		if status != 503 || !strings.Contains(body, "--s3-bucket") {
			t.Errorf("%s %s with no S3 configured: %d %s; want 503 naming --s3-bucket", method, path, status, body)
		}
	}
	if keys := f.s3.Keys(t, "rec/"+f.id+"/"); len(keys) != 2 {
		t.Errorf("objects were touched: %q", keys)
	}
}

// failingRemote is object storage that is down.
type failingRemote struct{ RemoteFiles }

func (failingRemote) Delete(context.Context, string) error { return errors.New("connection refused") }

func TestDeleteKeepsRecordingWhenS3Fails(t *testing.T) {
	recs, err := recordings.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := addRecording(t, recs, "a", time.Now(), true)
	signer, _ := auth.NewSigner([]byte("recordings-s3-test-secret-0123456789"))
	mux := http.NewServeMux()
	remote, _ := storage.NewS3(storage.S3Config{Bucket: "b", AccessKey: "k", SecretKey: "s"})
	New(nil, nil, signer, slog.New(slog.DiscardHandler)).WithRecordings(recordings.Local{Store: recs}).WithRemoteFiles(failingRemote{remote}).Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	mgmt, _ := signer.ManagementToken(time.Hour)
	fx := &fixture{url: hs.URL, signer: signer, mgmt: mgmt}
	status, body := fx.call(t, "DELETE", "/v1/recordings/"+id, mgmt, "")
	if status != 503 || !strings.Contains(body, "try again") {
		t.Errorf("delete with S3 down: %d %s; want 503", status, body)
	}
	if _, err := recs.Get(id); err != nil {
		t.Errorf("the recording was deleted locally although S3 failed: %v", err)
	}
}
