package testkit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server is an in-process S3-compatible server (gofakes3, in memory)
// behind an httptest server on a free loopback port: minio-go talks real
// S3 over HTTP to it. It can fail multipart part uploads on demand.
type S3Server struct {
	URL    string // http://127.0.0.1:port
	Bucket string

	backend *s3mem.Backend
	// FailParts is how many UploadPart requests (partNumber ≥ 2: a
	// multipart upload that fails halfway) are answered 500 before they
	// succeed again.
	FailParts atomic.Int32

	mu       sync.Mutex
	parts    int      // UploadPart requests that reached the server
	requests []string // "METHOD path?query" of every request
}

// StartS3 starts the server with one empty bucket; it stops with the test.
func StartS3(t testing.TB, bucket string) *S3Server {
	t.Helper()
	s := &S3Server{Bucket: bucket, backend: s3mem.New()}
	if err := s.backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	faker := gofakes3.New(s.backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(s.handler(faker.Server()))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *S3Server) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		part := r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		if part {
			s.parts++
		}
		s.mu.Unlock()
		if part && q.Get("partNumber") != "1" && s.FailParts.Add(-1) >= 0 {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected fault</Message></Error>`)
			return
		}
		if part && r.Header.Get("X-Amz-Content-Sha256") == streamingPayload {
			if err := unchunk(r); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// streamingPayload marks a body in aws-chunked encoding: minio-go signs
// uploads over plain http that way. gofakes3 decodes it for PutObject but
// stores it raw for UploadPart, so the fixture decodes it first, as S3 does.
const streamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

// unchunk replaces r's aws-chunked body (size;chunk-signature=...\r\n data
// \r\n, ending with a 0-size chunk) with the decoded bytes.
func unchunk(r *http.Request) error {
	br := bufio.NewReader(r.Body)
	var body bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("aws-chunked: %w", err)
		}
		hexSize, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(hexSize, 16, 64)
		if err != nil {
			return fmt.Errorf("aws-chunked: chunk size %q", hexSize)
		}
		if _, err := io.CopyN(&body, br, n); err != nil {
			return fmt.Errorf("aws-chunked: %w", err)
		}
		if _, err := br.Discard(2); err != nil { // \r\n
			return fmt.Errorf("aws-chunked: %w", err)
		}
		if n == 0 {
			break
		}
	}
	r.Body = io.NopCloser(&body)
	r.ContentLength = int64(body.Len())
	r.Header.Set("Content-Length", strconv.Itoa(body.Len()))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	r.Header.Del("Content-Encoding")
	return nil
}

// Parts returns how many UploadPart requests the server received.
func (s *S3Server) Parts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts
}

// Requests returns every request received so far, as "METHOD URI".
func (s *S3Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Object returns the bytes of key in the bucket, or ok false.
func (s *S3Server) Object(t testing.TB, key string) (data []byte, ok bool) {
	t.Helper()
	obj, err := s.backend.GetObject(s.Bucket, key, nil)
	if err != nil {
		return nil, false
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// Keys returns the keys in the bucket under prefix.
func (s *S3Server) Keys(t testing.TB, prefix string) []string {
	t.Helper()
	list, err := s.backend.ListBucket(s.Bucket, &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		if strings.HasPrefix(o.Key, prefix) {
			keys = append(keys, o.Key)
		}
	}
	return keys
}
