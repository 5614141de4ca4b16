package signal

import (
	"errors"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/internal/rcerr"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"join", `{"type":"join","v":1,"room":"r","token":"t"}`, ""},
		{"join wrong version", `{"type":"join","v":2,"room":"r","token":"t"}`, "v must be 1"},
		{"join no token", `{"type":"join","v":1,"room":"r"}`, "token is required"},
		{"join no room", `{"type":"join","v":1,"token":"t"}`, "room must be"},
		{"publish", `{"type":"publish","id":3,"audio":true,"video":false}`, ""},
		{"publish nothing", `{"type":"publish","id":3}`, "audio or video"},
		{"answer", `{"type":"answer","sdp":"v=0"}`, ""},
		{"answer empty", `{"type":"answer"}`, "sdp is required"},
		{"candidate", `{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0"}}`, ""},
		{"candidate missing", `{"type":"candidate"}`, "candidate is required"},
		{"media", `{"type":"media","audio":false,"video":true}`, ""},
		{"media partial", `{"type":"media","audio":false}`, "audio and video"},
		{"leave", `{"type":"leave"}`, ""},
		{"no type", `{}`, "type is required"},
		{"unknown type", `{"type":"hack"}`, `unknown message type "hack"`},
		{"not json", `nope`, "not a JSON object"},
		{"array", `[1,2]`, "not a JSON object"},
		{"too big", `{"type":"answer","sdp":"` + strings.Repeat("a", MaxMessageSize) + `"}`, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil || m == nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			code, msg := rcerr.Public(err)
			if code != rcerr.InvalidArgument || !strings.Contains(msg, tt.wantErr) || !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("got %s %q (%v), want invalid_argument containing %q", code, msg, err, tt.wantErr)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","v":1,"room":"r","token":"t"}`,
		`{"type":"publish","id":1,"audio":true}`,
		`{"type":"candidate","candidate":{"candidate":"x"}}`,
		`{"type":"media","audio":true,"video":true}`,
		`{"type":"answer","sdp":"v=0\r\n"}`,
		`{"type":"leave"}`, `{}`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			if code, _ := rcerr.Public(err); code != rcerr.InvalidArgument {
				t.Fatalf("error code %s, want invalid_argument", code)
			}
			return
		}
		// A decoded message is valid, so the handler can rely on its fields.
		switch m.Type {
		case TypeCandidate:
			if m.Candidate == nil {
				t.Fatal("candidate without candidate")
			}
		case TypeMedia:
			if m.Audio == nil || m.Video == nil {
				t.Fatal("media without flags")
			}
		case TypeJoin:
			if m.V != Version || m.Token == "" || m.Room == "" {
				t.Fatal("invalid join accepted")
			}
		}
	})
}
