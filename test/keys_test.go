package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// keyRunes are what random keys are made of: the characters platforms
// use, and some that are not ASCII.
var keyRunes = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ключсекрет密钥")

// randomKey is 16–40 runes, or with long over 2,000 (too long for a URL).
func randomKey(r *rand.Rand, long bool) string {
	n := 16 + r.IntN(24)
	if long {
		n = 2000 + r.IntN(1000)
	}
	b := make([]rune, n)
	for i := range b {
		b[i] = keyRunes[r.IntN(len(keyRunes))]
	}
	return string(b)
}

// Ingest URL shapes, valid and not; %s is the key. Every destination is
// 127.0.0.1:1, where nothing listens, so valid ones fail and report errors.
var (
	validShapes = []string{
		"rtmp://127.0.0.1:1/live/%s", "rtmps://127.0.0.1:1/app/%s", "rtmp://127.0.0.1:1/app/instance/%s",
		"rtmp://127.0.0.1:1/live/%s?s_bl=1&s_sc=x", "rtmps://127.0.0.1:1/rtmp/%s?a=b",
	}
	invalidShapes = []string{
		"rtmp://127.0.0.1:1/live/%s/", "rtmp://127.0.0.1:1/%s", "rtmp://127.0.0.1:1/%s/", "rtmp://127.0.0.1:1:2/live/%s",
		"rtmp://user:%s@127.0.0.1:1/live/x", "http://127.0.0.1:1/live/%s", "rtmp://127.0.0.1:1/live//%s",
		"rtmp://127.0.0.1:1/live/%s#frag", "rtmp://127.0.0.1:99999/live/%s", "rtmp:///live/%s", "rtmp://127.0.0.1:1/live/%s ",
		"rtmp://127.0.0.1:1/live2?backup=1/%s",
	}
)

// sigRecorder is a guest on /rtc that keeps every message the server sends.
type sigRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func recordSignaling(t *testing.T, s *server, room string) *sigRecorder {
	t.Helper()
	ctx := testContext(t, 5*time.Minute)
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.URL, "http", "ws", 1)+"/rtc", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	join, _ := json.Marshal(map[string]any{"type": "join", "v": 1, "room": room, "token": s.joinToken(t, room, "watcher", "guest")})
	if err := ws.Write(ctx, websocket.MessageText, join); err != nil {
		t.Fatal(err)
	}
	rec := &sigRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			rec.mu.Lock()
			rec.msgs = append(rec.msgs, string(b))
			rec.mu.Unlock()
		}
	}()
	t.Cleanup(func() { ws.CloseNow(); <-done })
	return rec
}

func (r *sigRecorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// leaks lists where a key shows, in any spelling a URL might give it.
func leaks(key string, outputs map[string]string) []string {
	forms := []string{key, url.PathEscape(key), url.QueryEscape(key)}
	var where []string
	for name, out := range outputs {
		for _, f := range forms {
			if strings.Contains(out, f) {
				where = append(where, name)
				break
			}
		}
	}
	return where
}

// Issue 13's property: for random keys in random valid and invalid ingest
// URL shapes, the key never appears in the response, the state, the
// signaling messages, the webhooks or the logs.
func TestStreamKeysNeverLeak(t *testing.T) {
	need(t, "chromium", "Xvfb", "pulseaudio", "ffmpeg")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 13))
	hooks := newHookReceiver(t)
	s := startServer(t, "--webhook-url", hooks.URL)
	hooks.secret = []byte(strings.TrimSpace(readFile(t, s.data+"/secret")))
	sig := recordSignaling(t, s, "keys")
	c := client(t, s)
	outputs := map[string]string{}
	var keys []string

	for i := range 8 {
		key := randomKey(r, i == 0)
		keys = append(keys, key)
		p := roomcast.StartParams{RTMPURLs: []string{fmt.Sprintf(invalidShapes[r.IntN(len(invalidShapes))], key)}}
		code, body := postStart(t, s, "keys", "", p)
		outputs[fmt.Sprintf("400 body %d", i)] = body
		if code != 400 && code != 202 {
			t.Errorf("invalid shape %d: status %d %s", i, code, body)
		}
		if code == 202 {
			t.Logf("accepted (a shape the parser takes): %s", body)
			stopAndWait(t, c, "keys")
		}
	}
	for job := range 3 {
		p := roomcast.StartParams{Resolution: &roomcast.Resolution{Width: 640, Height: 360}}
		for range 3 {
			key := randomKey(r, false)
			keys = append(keys, key)
			p.RTMPURLs = append(p.RTMPURLs, fmt.Sprintf(validShapes[r.IntN(len(validShapes))], key))
		}
		code, body := postStart(t, s, "keys", "", p)
		outputs[fmt.Sprintf("202 body %d", job)] = body
		if code != 202 {
			t.Fatalf("valid start %d: %d %s", job, code, body)
		}
		st := waitBeam(t, c, "keys", 40*time.Second, "every destination reports an error", func(st roomcast.BeamState) bool {
			n := 0
			for _, d := range st.RTMP.Destinations {
				if d.Error != nil {
					n++
				}
			}
			return n == len(p.RTMPURLs) || st.RTMP.State == roomcast.StreamingStateFailed
		})
		b, _ := json.Marshal(st)
		outputs[fmt.Sprintf("state %d", job)] = string(b)
		stopAndWait(t, c, "keys")
	}
	testkit.WaitFor(t, 20*time.Second, "webhooks of three jobs", func() bool {
		n := 0
		for _, ev := range hooks.all() {
			if ev.Event == roomcast.EventBeamStopped || ev.Event == roomcast.EventBeamFailed {
				n++
			}
		}
		return n >= 3
	})
	outputs["signaling"] = sig.text()
	outputs["webhooks"] = strings.Join(hooks.bodies(), "\n")
	outputs["logs"] = s.Logs()
	if !strings.Contains(outputs["signaling"], `"type":"state"`) || len(hooks.bodies()) == 0 {
		t.Fatal("nothing recorded from signaling or webhooks; the test would prove nothing")
	}
	for _, k := range keys {
		if where := leaks(k, outputs); len(where) > 0 {
			t.Errorf("key %.40q… shows in %v", k, where)
		}
	}
}

func stopAndWait(t *testing.T, c *roomcast.Client, room string) {
	t.Helper()
	if _, err := c.StopRTMPAndRecording(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, room, 30*time.Second, "stopped", func(st roomcast.BeamState) bool {
		return st.RTMP.State != roomcast.StreamingStateStarting && st.RTMP.State != roomcast.StreamingStateStarted
	})
}
