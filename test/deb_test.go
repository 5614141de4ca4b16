package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/avcheck"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// make deb's package installs like a Debian service: apt-get install puts
// the binary, the default config (a conffile) and the systemd unit in
// place and creates the roomcast user and /var/lib/roomcast. Started the
// way the unit would (its ExecStart, as its User, in its
// WorkingDirectory; no systemd in CI), with only the ports changed
// through the environment, it serves: a room's recording is made, owned
// by roomcast, and carries the publisher's sound and picture.
func TestDebianPackageInstallsAService(t *testing.T) {
	need(t, "dpkg-deb", "apt-get", "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("installing the package needs root")
		}
		t.Skip("installing the package needs root")
	}
	if exec.Command("dpkg", "-s", "roomcast").Run() == nil {
		t.Fatal("a roomcast package is installed on this machine already; the test would replace it")
	}
	out, err := exec.Command("bash", "../packaging/mkdeb.sh", binary, t.TempDir()).Output()
	if err != nil {
		t.Fatalf("mkdeb.sh: %v", err)
	}
	deb := strings.TrimSpace(string(out))
	install := exec.Command("apt-get", "install", "-y", "-q", deb)
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("apt-get install %s: %v\n%s", filepath.Base(deb), err, b)
	}
	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", "roomcast").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge roomcast: %v\n%s", err, b)
		}
		exec.Command("deluser", "--quiet", "--system", "roomcast").Run()
		exec.Command("delgroup", "--quiet", "--system", "roomcast").Run()
		os.RemoveAll("/var/lib/roomcast")
	})
	for _, f := range []string{"/usr/bin/roomcast", "/etc/roomcast/roomcast.yaml", "/lib/systemd/system/roomcast.service"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("installed: %v", err)
		}
	}
	if b, _ := os.ReadFile("/var/lib/dpkg/info/roomcast.conffiles"); !strings.Contains(string(b), "/etc/roomcast/roomcast.yaml") {
		t.Errorf("the config is not a conffile: %q", b)
	}
	u, err := user.Lookup("roomcast")
	if err != nil {
		t.Fatalf("the package created no roomcast user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if fi, err := os.Stat("/var/lib/roomcast"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Fatalf("/var/lib/roomcast: %v, want it owned by roomcast", err)
	}

	unit := readUnit(t, "/lib/systemd/system/roomcast.service")
	if unit["User"] != "roomcast" {
		t.Fatalf("the unit runs as %q, want roomcast", unit["User"])
	}
	argv := strings.Fields(unit["ExecStart"])
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = unit["WorkingDirectory"]
	cmd.Env = []string{"PATH=/usr/bin:/bin", unit["Environment"],
		// The only change: free ports and no warm sandbox (the test's CPU).
		"ROOMCAST_ADDR=127.0.0.1:0", "ROOMCAST_RTC_UDP_PORT=0", "ROOMCAST_PREWARM=false"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	s := (&server{data: "/var/lib/roomcast"}).start(t, cmd)

	fx := syncFixtures(t, 30)
	pub := joinPublisher(t, s, "installed", "ada", true, true)
	ctx := testContext(t, 2*time.Minute)
	var wg sync.WaitGroup
	defer wg.Wait()
	var frames int
	wg.Go(func() { playIVF(ctx, fx.ivf, pub.video, &frames) })
	wg.Go(func() { playOgg(ctx, fx.ogg, pub.audio, &frames) })
	c := client(t, s)
	if _, err := c.StartRTMPOrRecording(ctx, "installed", roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "installed", 60*time.Second, "recording", func(st roomcast.BeamState) bool { return st.Recording.Browser.Running })
	time.Sleep(5 * time.Second) // the recording's length
	if _, err := c.StopRTMPAndRecording(ctx, "installed"); err != nil {
		t.Fatal(err)
	}
	rec := waitRecording(t, c, "installed", 60*time.Second)
	owned := 0
	filepath.Walk("/var/lib/roomcast", func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, rec.ID) && !fi.IsDir() {
			if fi.Sys().(*syscall.Stat_t).Uid == uint32(uid) {
				owned++
			} else {
				t.Errorf("%s is not owned by roomcast", p)
			}
		}
		return nil
	})
	if owned == 0 {
		t.Errorf("no file of recording %s under /var/lib/roomcast", rec.ID)
	}
	a, err := avcheck.Analyze(ctx, download(t, s, rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("installed service: recording %.1f s, %d beeps, %d flashes, %d files owned by roomcast", rec.Duration, len(a.Beeps()), len(a.Flashes()), owned)
	if rec.Duration < 4 || len(a.Beeps()) < 3 || len(a.Flashes()) < 3 {
		t.Errorf("the installed service's recording: %.1f s, %d beeps, %d flashes; want ≥ 4 s with the publisher's beeps and flashes", rec.Duration, len(a.Beeps()), len(a.Flashes()))
	}
}

// readUnit reads a systemd unit's Key=Value lines (the last of a key
// wins).
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}
