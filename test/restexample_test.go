package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// examples/rest.mjs, the documented JavaScript backend, runs against a
// real server: its guest link, the room's state, and a recording listed
// with a link that plays the file without a token.
func TestRESTExampleInNode(t *testing.T) {
	need(t, "node", "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	s := startServer(t)
	beamRoom(t, s, "demo")
	c := client(t, s)
	ctx := testContext(t, 2*time.Minute)
	if _, err := c.StartRTMPOrRecording(ctx, "demo", roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "demo", 40*time.Second, "recording", func(st roomcast.BeamState) bool { return st.Recording.Browser.Running })
	time.Sleep(2 * time.Second) // something to record
	if _, err := c.StopRTMPAndRecording(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	waitRecording(t, c, "demo", 60*time.Second)
	cmd := exec.Command("node", "../examples/rest.mjs", "demo")
	cmd.Env = append(os.Environ(), "ROOMCAST_URL="+s.URL, "ROOMCAST_TOKEN="+s.token(t, "--management"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node examples/rest.mjs: %v\n%s", err, out)
	}
	t.Logf("examples/rest.mjs:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "/meet/demo?token=") || !strings.Contains(lines[1], `"recording":"stopped"`) {
		t.Fatalf("unexpected output:\n%s", out)
	}
	var rec struct {
		Status string
		Files  []struct{ Name, Play string }
	}
	if err := json.Unmarshal([]byte(lines[2]), &rec); err != nil || rec.Status != "ready" || len(rec.Files) == 0 || rec.Files[0].Play == "" {
		t.Fatalf("the recording line %q: %+v, %v", lines[2], rec, err)
	}
	resp, err := http.Get(rec.Files[0].Play) // no token: the link is enough
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the example's play link: %d", resp.StatusCode)
	}
}
