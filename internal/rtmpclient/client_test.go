package rtmpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/roomcast/roomcast/internal/streamurl"
	"github.com/roomcast/roomcast/internal/testkit"
)

func dial(t *testing.T, raw string, opts Options) (*Conn, error) {
	t.Helper()
	u, err := streamurl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Dial(ctx, u, opts)
}

// The publish is accepted by three independent server implementations:
// nginx-rtmp, ffmpeg's listen mode (which gortmplib's own client could not
// publish to: it answers FCPublish with a bare onFCPublish) and
// gortmplib's server.
func TestPublishIsAcceptedByEveryServer(t *testing.T) {
	testkit.Need(t, "nginx", "ffmpeg")
	nginx := testkit.StartRTMP(t)
	ff := testkit.StartFFmpegRTMP(t, "ffmpeg-key-1234")
	gos := testkit.StartGoRTMP(t)
	for name, u := range map[string]string{
		"nginx-rtmp": nginx.URL("nginx-key-1234"), "ffmpeg -listen": ff.URL(), "gortmplib server": gos.URL("go-key-1234"),
	} {
		c, err := dial(t, u, Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c.Close()
	}
	if p := gos.Published(); len(p) != 1 || p[0].Path != "/live/go-key-1234" {
		t.Errorf("gortmplib server saw publishes %v", p)
	}
}

// onPublish is nginx-rtmp's on_publish callback: it keeps every form and
// refuses names starting with "wrong".
type onPublish struct {
	mu    sync.Mutex
	forms []url.Values
}

func startOnPublish(t *testing.T) (*onPublish, string) {
	op := &onPublish{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		op.mu.Lock()
		op.forms = append(op.forms, form)
		op.mu.Unlock()
		if strings.HasPrefix(form.Get("name"), "wrong") {
			http.Error(w, "bad key", http.StatusForbidden)
		}
	}))
	t.Cleanup(srv.Close)
	return op, srv.URL + "/on_publish"
}

func (op *onPublish) last() url.Values {
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.forms) == 0 {
		return nil
	}
	return op.forms[len(op.forms)-1]
}

// What nginx's on_publish receives is exactly the stream name and the
// query the URL carries (a Facebook key's query, a YouTube backup app's).
func TestIngestReceivesTheExactNameAndArgs(t *testing.T) {
	testkit.Need(t, "nginx")
	op, hook := startOnPublish(t)
	nginx := testkit.StartRTMPNotifying(t, hook)
	base := "rtmp://" + nginx.Addr()
	for _, c := range []struct{ url, app, name, args string }{
		{base + "/live/plain-key-1234", "live", "plain-key-1234", ""},
		{base + "/live/FB-1234567890-0-AbCd?s_bl=1&s_sc=1234&a=AbCdEf", "live", "FB-1234567890-0-AbCd", "s_bl=1&s_sc=1234&a=AbCdEf"},
		{base + "/live?backup=1/yt-key-abcd-efgh", "live", "yt-key-abcd-efgh", ""},
	} {
		conn, err := dial(t, c.url, Options{})
		if err != nil {
			t.Errorf("%s: %v", streamurl.Redact(c.url), err)
			continue
		}
		conn.Close()
		f := op.last()
		if f.Get("call") != "publish" || f.Get("app") != c.app || f.Get("name") != c.name {
			t.Errorf("%s: on_publish got %v; want app %q name %q", streamurl.Redact(c.url), f, c.app, c.name)
		}
		if c.args != "" {
			want, _ := url.ParseQuery(c.args)
			for k := range want {
				if f.Get(k) != want.Get(k) {
					t.Errorf("%s: on_publish arg %s = %q, want %q (form %v)", streamurl.Redact(c.url), k, f.Get(k), want.Get(k), f)
				}
			}
		}
	}
}

// Failures say what to do, as a Kind: a refused key, a host that cannot
// be reached, a certificate that is not trusted. Their text never holds
// the key.
func TestFailuresAreClassified(t *testing.T) {
	testkit.Need(t, "nginx")
	_, hook := startOnPublish(t)
	nginx := testkit.StartRTMPNotifying(t, hook)
	front := testkit.StartTLSProxy(t, nginx.Addr())
	dead := testkit.FreePort(t)
	const secret = "wrong-key-0123456789"
	for _, c := range []struct {
		name, url string
		opts      Options
		want      Kind
		text      string
	}{
		{"refused key", nginx.URL(secret), Options{}, Rejected, "refused the stream key"},
		{"unreachable", "rtmp://127.0.0.1:" + itoa(dead) + "/live/" + secret, Options{}, Unreachable, "cannot reach 127.0.0.1:"},
		{"untrusted", "rtmps://localhost:" + itoa(front.Port) + "/live/" + secret, Options{}, TLSUntrusted, "not trusted"},
	} {
		_, err := dial(t, c.url, c.opts)
		var e *Error
		if !errors.As(err, &e) || e.Kind != c.want || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v (%T); want %s saying %q", c.name, err, err, c.want, c.text)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the key: %v", c.name, err)
		}
	}
	// With the CA, the TLS front is reached under the URL's host as SNI.
	c, err := dial(t, "rtmps://localhost:"+itoa(front.Port)+"/live/good-key-1234", Options{TLS: &tls.Config{RootCAs: front.Pool(t)}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if sni := front.ServerNames(); len(sni) == 0 || sni[len(sni)-1] != "localhost" {
		t.Errorf("SNI seen by the TLS front: %v, want localhost", sni)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// The connect + publish exchange against nginx-rtmp, this client against
// gortmplib's own (the naive baseline it replaces); docs/BENCHMARKS.md.
func BenchmarkPublish(b *testing.B) {
	testkit.Need(b, "nginx")
	nginx := testkit.StartRTMP(b)
	b.Run("rtmpclient", func(b *testing.B) {
		u, _ := streamurl.Parse(nginx.URL("bench-key-1234"))
		for b.Loop() {
			c, err := Dial(context.Background(), u, Options{})
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("gortmplib", func(b *testing.B) {
		u, _ := url.Parse("rtmp://" + nginx.Addr() + "/live#bench-key-1234")
		for b.Loop() {
			c := &gortmplib.Client{URL: u, Publish: true}
			if err := c.Initialize(context.Background()); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}
