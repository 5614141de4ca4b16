package composite

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/internal/testkit"
)

// A data directory deep enough that a socket under it would pass the
// 108-byte limit of a Unix socket path still gets a working sandbox (its
// sockets elsewhere), and Close removes that elsewhere.
func TestSandboxInADeepDirectory(t *testing.T) {
	testkit.Need(t, "Xvfb", "pulseaudio")
	dir := filepath.Join(t.TempDir(), strings.Repeat("deep", 20))
	sb, err := StartSandbox(context.Background(), dir, 640, 360, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pactl", "info")
	cmd.Env = append(os.Environ(), sb.Env...)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Server Name") {
		t.Errorf("pactl info: %v\n%s", err, out)
	}
	run := sb.runDir
	sb.Close()
	if run == "" {
		t.Fatal("the sockets stayed under the deep directory")
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Errorf("Close left %s: %v", run, err)
	}
}
