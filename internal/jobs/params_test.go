package jobs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/urlpolicy"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

const key = "k0jv-329m-1y7f-ktth-ck48"

// fakeDNS resolves the names of the table; anything else does not resolve.
type fakeDNS map[string]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ip, ok := f[host]; ok {
		return []netip.Addr{netip.MustParseAddr(ip)}, nil
	}
	return nil, errors.New("no such host")
}

func TestValidate(t *testing.T) {
	yt := "rtmp://a.rtmp.youtube.com/live2/" + key
	res := func(w, h int) *roomcast.Resolution { return &roomcast.Resolution{Width: w, Height: h} }
	dns := fakeDNS{"evil.example": "169.254.169.254", "meet.example.com": "203.0.113.7", "a.meet.example.com": "203.0.113.8"}
	pol := Policy{URLs: urlpolicy.Policy{Resolver: dns}}
	self := Policy{URLs: urlpolicy.Policy{Resolver: dns, Self: []string{"127.0.0.1:7880"}}}
	tests := []struct {
		name string
		p    roomcast.StartParams
		pol  *Policy
		want string // substring of the message; "" means valid
	}{
		{"stream only", roomcast.StartParams{RTMPURLs: []string{yt}}, nil, ""},
		{"record only", roomcast.StartParams{Record: true}, nil, ""},
		{"both", roomcast.StartParams{RTMPURLs: []string{yt}, Record: true}, nil, ""},
		{"neither", roomcast.StartParams{}, nil, "nothing to start"},
		{"empty list and no record", roomcast.StartParams{RTMPURLs: []string{}}, nil, "nothing to start"},
		{"three URLs", roomcast.StartParams{RTMPURLs: []string{yt, yt + "a", yt + "b"}}, nil, ""},
		{"four URLs", roomcast.StartParams{RTMPURLs: []string{yt, yt + "a", yt + "b", yt + "c"}}, nil, "rtmpURLs: at most 3"},
		{"rtmps with port", roomcast.StartParams{RTMPURLs: []string{"rtmps://live.example.com:443/app/" + key}}, nil, ""},
		{"query kept", roomcast.StartParams{RTMPURLs: []string{"rtmps://live-api-s.facebook.com:443/rtmp/" + key + "?s_bl=1"}}, nil, ""},
		{"bad scheme", roomcast.StartParams{RTMPURLs: []string{"http://a.example/live/" + key}}, nil, `rtmpURLs[0]: scheme must be rtmp or rtmps, got "http"`},
		{"no key", roomcast.StartParams{RTMPURLs: []string{yt, "rtmp://a.example/live"}}, nil, "rtmpURLs[1]: needs an app and a stream key: rtmp://host[:port]/app/STREAM_KEY (rtmp://a.example/{…})"},
		{"empty key", roomcast.StartParams{RTMPURLs: []string{"rtmp://a.example/live/"}}, nil, "rtmpURLs[0]"},
		{"no host", roomcast.StartParams{RTMPURLs: []string{"rtmp:///live/" + key}}, nil, "rtmpURLs[0]: no host"},
		{"duplicate", roomcast.StartParams{RTMPURLs: []string{yt, yt}}, nil, "rtmpURLs[1]: same URL as rtmpURLs[0]"},
		{"default resolution", roomcast.StartParams{Record: true}, nil, ""},
		{"min landscape", roomcast.StartParams{Record: true, Resolution: res(480, 270)}, nil, ""},
		{"below min landscape", roomcast.StartParams{Record: true, Resolution: res(478, 270)}, nil, "resolution: landscape 478x270 is out of bounds"},
		{"landscape 640x360", roomcast.StartParams{Record: true, Resolution: res(640, 360)}, nil, ""},
		{"max landscape", roomcast.StartParams{Record: true, Resolution: res(1920, 1080)}, nil, ""},
		{"too wide", roomcast.StartParams{Record: true, Resolution: res(1922, 1080)}, nil, "resolution: landscape 1922x1080 is out of bounds"},
		{"too short", roomcast.StartParams{Record: true, Resolution: res(640, 268)}, nil, "resolution: landscape"},
		{"odd", roomcast.StartParams{Record: true, Resolution: res(641, 360)}, nil, "resolution: width and height must be even"},
		{"square counts as landscape", roomcast.StartParams{Record: true, Resolution: res(720, 720)}, nil, ""},
		{"portrait", roomcast.StartParams{Record: true, Resolution: res(720, 1280)}, nil, ""},
		{"portrait too wide", roomcast.StartParams{Record: true, Resolution: res(1082, 1920)}, nil, "resolution: portrait 1082x1920 is out of bounds"},
		{"portrait too tall", roomcast.StartParams{Record: true, Resolution: res(720, 1922)}, nil, "resolution: portrait"},
		{"zero", roomcast.StartParams{Record: true, Resolution: res(0, 0)}, nil, "resolution: landscape 0x0"},
		{"negative", roomcast.StartParams{Record: true, Resolution: res(-640, -360)}, nil, "resolution:"},
		{"meeting http", roomcast.StartParams{Record: true, MeetingURL: "http://127.0.0.1:7880/meet/demo?token=x"}, &self, ""},
		{"loopback not self", roomcast.StartParams{Record: true, MeetingURL: "http://127.0.0.1:22/"}, &self, "loopback"},
		{"hex metadata", roomcast.StartParams{Record: true, MeetingURL: "http://0xa9fea9fe/"}, nil, "link-local"},
		{"unresolvable", roomcast.StartParams{Record: true, MeetingURL: "http://nowhere.example/"}, &pol, "does not resolve"},
		{"meeting https name", roomcast.StartParams{Record: true, MeetingURL: "https://meet.example.com/r"}, &pol, ""},
		{"meeting file", roomcast.StartParams{Record: true, MeetingURL: "file:///etc/passwd"}, nil, `meetingURL: scheme must be http or https, got "file"`},
		{"meeting chrome", roomcast.StartParams{Record: true, MeetingURL: "chrome://settings"}, nil, `got "chrome"`},
		{"meeting data", roomcast.StartParams{Record: true, MeetingURL: "data:text/html,hi"}, nil, "meetingURL:"},
		{"meeting javascript", roomcast.StartParams{Record: true, MeetingURL: "javascript:alert(1)"}, nil, "meetingURL:"},
		{"meeting relative", roomcast.StartParams{Record: true, MeetingURL: "/meet/demo"}, nil, "meetingURL: not an absolute URL"},
		{"metadata ip", roomcast.StartParams{Record: true, MeetingURL: "http://169.254.169.254/latest/meta-data/"}, nil, "meetingURL: host \"169.254.169.254\" is a link-local"},
		{"link-local v6", roomcast.StartParams{Record: true, MeetingURL: "http://[fe80::1]/"}, nil, "link-local"},
		{"mapped v4 link-local", roomcast.StartParams{Record: true, MeetingURL: "http://[::ffff:169.254.1.1]/"}, nil, "link-local"},
		{"aws v6 metadata", roomcast.StartParams{Record: true, MeetingURL: "http://[fd00:ec2::254]/"}, nil, "private"},
		{"metadata name", roomcast.StartParams{Record: true, MeetingURL: "http://metadata.google.internal/computeMetadata/v1/"}, nil, "cloud metadata"},
		{"name resolving to metadata", roomcast.StartParams{Record: true, MeetingURL: "http://evil.example/"}, &pol, "link-local"},
		{"unspecified", roomcast.StartParams{Record: true, MeetingURL: "http://0.0.0.0/"}, nil, "unspecified"},
		{"credentials", roomcast.StartParams{Record: true, MeetingURL: "https://u:p@meet.example.com/"}, nil, "user:password"},
		{"allowlist hit", roomcast.StartParams{Record: true, MeetingURL: "https://a.meet.example.com/"}, &Policy{URLs: urlpolicy.Policy{Resolver: dns, Allow: []string{".meet.example.com"}}}, ""},
		{"max duration", roomcast.StartParams{Record: true, MaxDuration: 90}, nil, ""},
		{"max duration at the default cap", roomcast.StartParams{Record: true, MaxDuration: 86400}, nil, ""},
		{"max duration over the default cap", roomcast.StartParams{Record: true, MaxDuration: 86401}, nil, "maxDuration: 86401 seconds is more than this server allows (86400 seconds"},
		{"max duration at the server cap", roomcast.StartParams{Record: true, MaxDuration: 3600}, &Policy{MaxDuration: time.Hour}, ""},
		{"max duration over the server cap", roomcast.StartParams{Record: true, MaxDuration: 3601}, &Policy{MaxDuration: time.Hour}, "maxDuration: 3601 seconds is more than this server allows (3600 seconds, --max-duration)"},
		{"max duration negative", roomcast.StartParams{Record: true, MaxDuration: -5}, nil, "maxDuration: must be a positive number of seconds, got -5"},
		{"max duration huge", roomcast.StartParams{Record: true, MaxDuration: 1 << 62}, nil, "maxDuration:"},
		{"allowlist miss", roomcast.StartParams{Record: true, MeetingURL: "https://other.example/"}, &Policy{URLs: urlpolicy.Policy{Resolver: dns, Allow: []string{"meet.example.com"}}}, `host "other.example" is not in the allowed hosts`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{}
			if tt.pol != nil {
				p = *tt.pol
			}
			got, err := Validate(context.Background(), tt.p, p)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if got.Resolution == nil {
					t.Fatalf("resolution not filled in")
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got valid", tt.want)
			}
			code, msg := rcerr.Public(err)
			if code != rcerr.InvalidArgument || !strings.Contains(msg, tt.want) {
				t.Errorf("got %s %q, want invalid_argument containing %q", code, msg, tt.want)
			}
			if strings.Contains(msg, key) {
				t.Errorf("message leaks the stream key: %q", msg)
			}
		})
	}
}

func TestDefaultResolution(t *testing.T) {
	got, err := Validate(context.Background(), roomcast.StartParams{Record: true}, Policy{})
	if err != nil || *got.Resolution != (roomcast.Resolution{Width: 1280, Height: 720}) {
		t.Fatalf("got %+v, %v; want 1280x720", got.Resolution, err)
	}
}

// An audio-only start has no picture: no default resolution or layout is
// filled in, and one that names either is refused naming the field; its
// state says audioOnly and has no layout, and its cost is the audio one.
func TestAudioOnlyHasNoPicture(t *testing.T) {
	got, err := Validate(context.Background(), roomcast.StartParams{Record: true, AudioOnly: true}, Policy{})
	if err != nil || got.Resolution != nil || got.Layout != "" {
		t.Fatalf("got %+v, %v; want no resolution and no layout", got, err)
	}
	for field, p := range map[string]roomcast.StartParams{
		"resolution": {Record: true, AudioOnly: true, Resolution: &roomcast.DefaultResolution},
		"layout":     {Record: true, AudioOnly: true, Layout: roomcast.LayoutGrid},
	} {
		_, err := Validate(context.Background(), p, Policy{})
		if code, msg := rcerr.Public(err); code != rcerr.InvalidArgument || !strings.HasPrefix(msg, field+":") {
			t.Errorf("audio-only with %s: %s %q, want invalid_argument naming it", field, code, msg)
		}
	}
	r, err := Start(Record{}, "room", got, "j1", "", time.Now())
	if err != nil || !r.State.AudioOnly || r.State.Layout != "" {
		t.Fatalf("state %+v, %v; want audioOnly and no layout", r.State, err)
	}
	if _, err := SetLayout(r, "room", roomcast.LayoutSpeaker); !strings.Contains(errString(err), "audio-only") {
		t.Errorf("layout change of an audio-only job: %v, want conflict", err)
	}
	if c := DefaultCostModel.Of(KindComposite, got); c != AudioOnlyCost {
		t.Errorf("audio-only cost %+v, want %+v", c, AudioOnlyCost)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFinding4TrailingSlashLeaksTheKey is issue 13's finding 4: an ingest URL with a
// trailing slash, one without an app, a bad port, or a multibyte key is
// refused with a 400 naming the field, and neither the message nor the
// state of an accepted URL carries the key.
func TestFinding4TrailingSlashLeaksTheKey(t *testing.T) {
	const uni = "ключ-трансляции-секрет"
	for _, c := range []struct {
		url    string
		refuse bool
	}{
		{"rtmp://host/live/" + key + "/", true},
		{"rtmp://host/" + key + "/", true},
		{"rtmp://host/" + key, true},
		{"rtmp://host:1:2/live/" + key, true},
		{"rtmp://host:99999/live/" + key, true},
		{"rtmp://host//" + key, true},
		{"rtmp://host/live/" + uni, false},
		{"rtmps://host:443/live/" + key + "?token=" + key, false},
	} {
		p, err := Validate(context.Background(), roomcast.StartParams{RTMPURLs: []string{c.url}}, Policy{})
		if c.refuse {
			if code, msg := rcerr.Public(err); code != rcerr.InvalidArgument || !strings.Contains(msg, "rtmpURLs[0]") ||
				strings.Contains(msg, key) {
				t.Errorf("%q: %s %q; want invalid_argument naming rtmpURLs[0] without the key", c.url, code, msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: refused: %v", c.url, err)
			continue
		}
		r, _ := Start(Record{State: roomcast.NewBeamState()}, "r", p, "j", "w1", time.Now())
		shown := r.State.RTMP.Destinations[0].URL
		if strings.Contains(shown, key) || strings.Contains(shown, "трансляции") || !strings.HasSuffix(shown, "}") {
			t.Errorf("%q is shown as %q", c.url, shown)
		}
	}
}
