package composite

import (
	"testing"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/urlpolicy"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Only the server's own meeting app goes on standby: a URL under /meet/ on
// an origin the operator's policy counts as the server's (Self), never
// one a start request names elsewhere.
func TestStandbyOnlyForTheServersOwnApp(t *testing.T) {
	pol := urlpolicy.Policy{Allow: []string{".example.com"}, Self: []string{"127.0.0.1:7880", "meet.example.com:443"}}
	for _, c := range []struct {
		url, base string // base "": not on standby
	}{
		{"http://127.0.0.1:7880/meet/demo?token=T", "http://127.0.0.1:7880"},
		{"https://meet.example.com/meet/demo?token=T", "https://meet.example.com"},
		{"http://127.0.0.1:7881/meet/demo?token=T", ""},         // another port
		{"https://other.example.com/meet/demo?token=T", ""},     // allowed, not the server's own
		{"http://127.0.0.1:7880/other/demo", ""},                // not the meeting app
		{"http://user:pw@127.0.0.1:7880/meet/demo?token=T", ""}, // credentials
		{"ftp://127.0.0.1:7880/meet/demo", ""},
		{"::", ""},
	} {
		app, ok := appOf(jobs.Job{Params: roomcast.StartParams{MeetingURL: c.url}, URLs: pol})
		if ok != (c.base != "") || app.Base != c.base {
			t.Errorf("appOf(%q) = %q, %v; want %q", c.url, app.Base, ok, c.base)
		}
	}
}

// A configured app wins over one learned from a job; without either there
// is no standby.
func TestStandbyApp(t *testing.T) {
	var r Runner
	if _, ok := r.standbyApp(); ok {
		t.Fatal("a runner that saw no job has a standby app")
	}
	pol := urlpolicy.Policy{Self: []string{"127.0.0.1:7880"}}
	r.noteApp(jobs.Job{Params: roomcast.StartParams{MeetingURL: "https://elsewhere.example/meet/x"}, URLs: pol})
	if _, ok := r.standbyApp(); ok {
		t.Fatal("learned a meeting app that is not the server's own")
	}
	r.noteApp(jobs.Job{Params: roomcast.StartParams{MeetingURL: "http://127.0.0.1:7880/meet/x?token=T"}, URLs: pol})
	if app, ok := r.standbyApp(); !ok || app.Base != "http://127.0.0.1:7880" {
		t.Fatalf("learned %q, %v", app.Base, ok)
	}
	r.MeetingApp = MeetingApp{Base: "http://10.0.0.1:7880", Policy: pol}
	if app, _ := r.standbyApp(); app.Base != "http://10.0.0.1:7880" {
		t.Fatalf("standby app %q, want the configured one", app.Base)
	}
}
