package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func noEnv(string) string { return "" }

func TestParseResolution(t *testing.T) {
	tests := []struct {
		in   string
		want roomcast.Resolution
		ok   bool
	}{
		{"640x360", roomcast.Resolution{Width: 640, Height: 360}, true},
		{"720X1280", roomcast.Resolution{Width: 720, Height: 1280}, true},
		{"640", roomcast.Resolution{}, false},
		{"640x", roomcast.Resolution{}, false},
		{"x360", roomcast.Resolution{}, false},
		{"-640x360", roomcast.Resolution{}, false},
		{"640x360x2", roomcast.Resolution{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseResolution(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseResolution(%q) = %+v, %v; want %+v, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseBeamArgsStart(t *testing.T) {
	a, err := parseBeamArgs([]string{"start", "--room", "demo",
		"--rtmp", "rtmp://a/live/k1", "--rtmp", "rtmps://b/app/k2",
		"--record", "--resolution", "640x360", "--meeting-url", "https://m/demo", "--max-duration", "90m"}, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := roomcast.StartParams{
		MeetingURL:  "https://m/demo",
		RTMPURLs:    []string{"rtmp://a/live/k1", "rtmps://b/app/k2"},
		Record:      true,
		Resolution:  &roomcast.Resolution{Width: 640, Height: 360},
		MaxDuration: 5400,
	}
	if a.action != "start" || a.room != "demo" || !reflect.DeepEqual(a.params, want) {
		t.Errorf("got %+v, want start demo %+v", a, want)
	}
	if a.server != "http://localhost:7880" || a.data != "./roomcast-data" || a.token != "" {
		t.Errorf("defaults: server %q data %q token %q", a.server, a.data, a.token)
	}
}

func TestParseBeamArgsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no action", nil, "action is required"},
		{"unknown action", []string{"pause", "--room", "r"}, "unknown action"},
		{"no room", []string{"status"}, "--room is required"},
		{"bad resolution", []string{"start", "--room", "r", "--resolution", "640"}, "--resolution"},
		{"four rtmp", []string{"start", "--room", "r", "--rtmp", "rtmp://h/a/KEY1", "--rtmp", "rtmp://h/a/KEY2",
			"--rtmp", "rtmp://h/a/KEY3", "--rtmp", "rtmp://h/a/KEY4"}, "at most 3"},
		{"bad max duration", []string{"start", "--room", "r", "--record", "--max-duration", "soon"}, "--max-duration"},
		{"zero max duration", []string{"start", "--room", "r", "--record", "--max-duration", "0"}, "--max-duration"},
		{"fractional max duration", []string{"start", "--room", "r", "--record", "--max-duration", "1.5s"}, "--max-duration"},
		{"start flag on stop", []string{"stop", "--room", "r", "--record"}, "not defined"},
		{"extra argument", []string{"status", "--room", "r", "now"}, "unexpected argument"},
		{"add-url without url", []string{"add-url", "--room", "r"}, "--url is required"},
		{"remove-url without index", []string{"remove-url", "--room", "r"}, "--index is required"},
		{"remove-url negative", []string{"remove-url", "--room", "r", "--index", "-2"}, "--index is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseBeamArgs(tt.args, &stderr, noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if s := err.Error() + stderr.String(); strings.Contains(s, "KEY") {
				t.Errorf("output shows a stream key: %q", s)
			}
		})
	}
}

func TestParseBeamArgsEnv(t *testing.T) {
	env := map[string]string{"ROOMCAST_SERVER": "http://rc:1", "ROOMCAST_TOKEN": "envtok"}
	getenv := func(k string) string { return env[k] }
	a, err := parseBeamArgs([]string{"status", "--room", "r"}, io.Discard, getenv)
	if err != nil || a.server != "http://rc:1" || a.token != "envtok" {
		t.Fatalf("got %+v, %v; want env server and token", a, err)
	}
	a, err = parseBeamArgs([]string{"status", "--room", "r", "--server", "http://x", "--token", "flagtok"}, io.Discard, getenv)
	if err != nil || a.server != "http://x" || a.token != "flagtok" {
		t.Fatalf("got %+v, %v; want flags to win over env", a, err)
	}
	var stderr bytes.Buffer
	_, err = parseBeamArgs([]string{"status", "-help"}, &stderr, getenv)
	if !errors.Is(err, flag.ErrHelp) || strings.Contains(stderr.String(), "envtok") {
		t.Errorf("help: err %v, output %q must not show the token", err, stderr.String())
	}
}

// TestBeamCommand runs the command against a fake API: a token minted from
// ROOMCAST_SECRET, the state printed as JSON, errors as "code: message".
func TestBeamCommand(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	t.Setenv(auth.SecretEnv, secret)
	t.Setenv("ROOMCAST_TOKEN", "")
	t.Setenv("ROOMCAST_SERVER", "")
	signer, err := auth.NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := signer.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err != nil || !c.Management {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"unauthenticated","message":"bad token"}`)
			return
		}
		if r.URL.Path == "/v1/rooms/busy/beam/start" {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"code":"conflict","message":"recording is running; stop it first"}`)
			return
		}
		st := roomcast.NewBeamState()
		st.Message = r.Method + " " + r.URL.Path
		json.NewEncoder(w).Encode(st)
	}))
	t.Cleanup(srv.Close)

	var stdout bytes.Buffer
	if err := beam(t.Context(), []string{"stop", "--room", "demo", "--server", srv.URL}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	var st roomcast.BeamState
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil || st.Message != "POST /v1/rooms/demo/beam/stop" {
		t.Errorf("stdout %q: %v", stdout.String(), err)
	}
	for args, want := range map[string]string{
		"add-url --room demo --url rtmp://h/live/KEY": "POST /v1/rooms/demo/beam/destinations",
		"remove-url --room demo --index 2":            "DELETE /v1/rooms/demo/beam/destinations/2",
	} {
		stdout.Reset()
		if err := beam(t.Context(), append(strings.Fields(args), "--server", srv.URL), &stdout, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(stdout.Bytes(), &st); err != nil || st.Message != want {
			t.Errorf("%s: stdout %q, want the state of %s", args, stdout.String(), want)
		}
	}
	err = beam(t.Context(), []string{"start", "--room", "busy", "--record", "--server", srv.URL}, io.Discard, io.Discard)
	if err == nil || err.Error() != "conflict: recording is running; stop it first" {
		t.Errorf("err = %v, want the API's code: message", err)
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"90", 90, true},
		{"90s", 90, true},
		{"1h30m", 5400, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"500ms", 0, false},
		{"1.5s", 0, false},
		{"forever", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSeconds(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseSeconds(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}
