package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// startNATS runs a standalone NATS server with JetStream for the test: the
// "external NATS" that several roomcast processes share.
func startNATS(t testing.TB) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats did not start")
	}
	return "nats://" + ns.Addr().(*net.TCPAddr).String()
}

// Two server processes share one NATS: a start through either is seen by
// both, and 100 concurrent starts spread over both let exactly one win
// (the worker accepts them all; the room's state admits one).
func TestTwoServersShareOneTruth(t *testing.T) {
	need(t)
	natsURL := startNATS(t)
	a := startServer(t, "--nats", natsURL, "--worker-slots", "0")
	// Same data dir, so the same secret: tokens work on both.
	b := startServer(t, "--nats", natsURL, "--worker-slots", "0", "--data", a.data)
	mgmt := a.token(t, "--management")
	// One worker process that could take every start (its jobs cost no CPU).
	startFakeWorkers(t, natsURL, 1, "--slots", "200", "--cpu-limit", "200")
	testkit.WaitFor(t, 10*time.Second, "the worker listed by both", func() bool {
		return len(workers(t, a, mgmt)) == 1 && len(workers(t, b, mgmt)) == 1
	})

	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	rtmp := "rtmp://127.0.0.1:1935/live/" + secretKey
	for i := range 100 {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		wg.Go(func() {
			status, body := api(t, srv, "POST", "/v1/rooms/race/beam/start", mgmt, `{"rtmpURLs": ["`+rtmp+`"]}`)
			switch status {
			case http.StatusAccepted:
				wins.Add(1)
			case http.StatusConflict:
				conflicts.Add(1)
			default:
				t.Errorf("start: %d %s", status, body)
			}
			if strings.Contains(body, secretKey) {
				t.Errorf("an answer carries the stream key: %s", body)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 99 {
		t.Errorf("wins %d, conflicts %d; want exactly one start to win", wins.Load(), conflicts.Load())
	}
	// Both servers read the same state; a stop through b ends what a started.
	for _, srv := range []*server{a, b} {
		_, body := api(t, srv, "GET", "/v1/rooms/race/beam", mgmt, "")
		var st roomcast.BeamState
		if err := json.Unmarshal([]byte(body), &st); err != nil || !st.RTMP.Running && st.RTMP.State != roomcast.StreamingStateStarting {
			t.Errorf("%s: state %s", srv.URL, body)
		}
	}
	if status, body := api(t, b, "POST", "/v1/rooms/race/beam/stop", mgmt, ""); status != 200 || !strings.Contains(body, `"state":"stopped"`) {
		t.Errorf("stop through the other server: %d %s", status, body)
	}
	if _, body := api(t, a, "GET", "/v1/rooms/race/beam", mgmt, ""); !strings.Contains(body, `"state":"stopped"`) {
		t.Errorf("first server after stop: %s", body)
	}
	for _, srv := range []*server{a, b} {
		if strings.Contains(srv.Logs(), secretKey) {
			t.Errorf("%s logged the stream key", srv.URL)
		}
	}
}

func api(t *testing.T, s *server, method, path, token, body string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A worker on "another machine" joins the server's NATS (--nats-listen),
// takes a job, and is killed mid-job: the job fails with a reason once its
// heartbeats stop.
func TestRemoteWorkerLostMidJob(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	s := startServer(t, "--nats-listen", "127.0.0.1:0", "--worker-slots", "0")
	if s.NATS == "" {
		t.Fatal("the server did not report its NATS address")
	}
	w, _ := startWorkerProcess(t, s, "remote-1", "--log-format", "json")
	c := client(t, s)
	if _, err := c.StartRTMPOrRecording(context.Background(), "far", roomcast.StartParams{Record: true,
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "far", 40*time.Second, "the remote worker started the job", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	w.Process.Kill() // the worker's machine dies
	st := waitBeam(t, c, "far", 30*time.Second, "the lost job failed", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateFailed
	})
	if e := st.Recording.Browser.Error; e == nil || !strings.Contains(e.Message, "worker remote-1 stopped sending heartbeats") {
		t.Errorf("error %+v, want the lost worker named", e)
	}
}

// SIGTERM drains a worker: /healthz says so (503), no job is lost, the one
// it runs goes on until --drain-timeout and then stops cleanly ("worker
// drained"), its recording is finalized and stored, and the worker exits 0.
func TestDrainedWorkerStopsItsJobCleanly(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	t.Run("SIGTERM", func(t *testing.T) {
		testDrain(t, func(t *testing.T, _ *server, w *exec.Cmd) {
			if err := w.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		})
	})
	// The same through the API from any machine: roomcast worker drain.
	t.Run("roomcast worker drain", func(t *testing.T) {
		testDrain(t, func(t *testing.T, s *server, _ *exec.Cmd) {
			out, err := exec.Command(binary, "worker", "drain", "--id", "drained-1", "--server", s.URL, "--data", s.data).CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"state": "draining"`) {
				t.Fatalf("roomcast worker drain: %v\n%s", err, out)
			}
			out, err = exec.Command(binary, "worker", "drain", "--id", "no-such-worker", "--server", s.URL, "--data", s.data).CombinedOutput()
			if err == nil || !strings.Contains(string(out), `no worker "no-such-worker" is running`) {
				t.Errorf("draining an unknown worker: %v\n%s", err, out)
			}
		})
	})
}

// testDrain runs a job on a `roomcast worker`, drains the worker with
// drain and checks the job ends cleanly at --drain-timeout.
func testDrain(t *testing.T, drain func(t *testing.T, s *server, w *exec.Cmd)) {
	s := startServer(t, "--nats-listen", "127.0.0.1:0", "--worker-slots", "0")
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	const timeout = 4 * time.Second
	w := exec.Command(binary, "worker", "--nats", "nats://"+s.NATS, "--data", s.data, "--id", "drained-1",
		"--addr", addr, "--drain-timeout", timeout.String(), "--prewarm=false")
	w.Env = append(os.Environ(), "ROOMCAST_SECRET=")
	var logs strings.Builder
	w.Stderr = &logs
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	exited := make(chan struct{})
	go func() { exitErr = w.Wait(); close(exited) }()
	t.Cleanup(func() {
		w.Process.Kill()
		<-exited
		raceFree(t, "roomcast worker", logs.String())
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})
	health := func() int {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testkit.WaitFor(t, 15*time.Second, "the worker's /healthz", func() bool { return health() == http.StatusOK })

	c := client(t, s)
	if _, err := c.StartRTMPOrRecording(context.Background(), "drain", roomcast.StartParams{Record: true,
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "drain", 40*time.Second, "the worker started the job", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	wm := string(httpGet(t, "http://"+addr+"/metrics"))
	for name, want := range map[string]float64{"roomcast_worker_busy_slots": 1, "roomcast_worker_cpu_reserved_cores": 0.6,
		"roomcast_worker_memory_reserved_mb": 400, "roomcast_job_start_delay_seconds_count": 1} {
		if v, ok := metricValue(wm, name); !ok || v != want {
			t.Errorf("worker /metrics %s = %v (found %v), want %v", name, v, ok, want)
		}
	}
	// serve lists it with its job (it announces itself every 2 s).
	listed := func(state roomcast.WorkerState) bool {
		ws, err := c.Workers(context.Background())
		return err == nil && len(ws) == 1 && ws[0].ID == "drained-1" && ws[0].State == state &&
			ws[0].Capacity == 16 && ws[0].Load == 1 && len(ws[0].Jobs) == 1 && ws[0].Jobs[0].Room == "drain" &&
			ws[0].CPU.Reserved == 0.6 && ws[0].CPU.Limit > 0 && ws[0].Memory.ReservedMB == 400 // a 360p job's cost
	}
	testkit.WaitFor(t, 5*time.Second, "GET /v1/workers listing the worker and its job", func() bool { return listed(roomcast.WorkerReady) })
	signalled := time.Now()
	drain(t, s, w)
	testkit.WaitFor(t, 5*time.Second, "/healthz saying draining", func() bool { return health() == http.StatusServiceUnavailable })
	testkit.WaitFor(t, 5*time.Second, "GET /v1/workers listing it draining", func() bool { return listed(roomcast.WorkerDraining) })
	if st, _ := c.BeamState(context.Background(), "drain"); st.Recording.Browser.State != roomcast.RecordingStateStarted {
		t.Errorf("the job did not go on while draining: %+v", st.Recording.Browser)
	}
	st := waitBeam(t, c, "drain", timeout+20*time.Second, "the drained job stopped", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State != roomcast.RecordingStateStarted
	})
	if b := st.Recording.Browser; b.State != roomcast.RecordingStateStopped || b.Reason != "worker drained" || b.Error != nil {
		t.Errorf("after the drain: %+v, want stopped for \"worker drained\"", b)
	}
	if ran := time.Since(signalled); ran < timeout {
		t.Errorf("the job stopped %v after the drain began, before the %v drain timeout", ran, timeout)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("the drained worker exited with %v, want 0", exitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the drained worker did not exit")
	}
	rec := waitRecording(t, c, "drain", 30*time.Second)
	if rec.Status != roomcast.RecordingPhaseReady || rec.Duration < timeout.Seconds() {
		t.Errorf("recording %s, %.1f s; want ready and at least the %v it ran while draining", rec.Status, rec.Duration, timeout)
	}
}

// Issue 15: one recordings index for the fleet. A worker on "another
// machine" (its own data dir; only the secret is shared) records a job;
// serve lists the recording, downloads its file from that worker (over
// NATS) as a playable 640x360 MP4, and deletes it there.
func TestRecordingOnAWorkerIsServedByServe(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	s := startServer(t, "--nats-listen", "127.0.0.1:0", "--worker-slots", "0")
	_, workerData := startWorkerProcess(t, s, "far-1")
	c := client(t, s)
	if _, err := c.StartRTMPOrRecording(context.Background(), "far", roomcast.StartParams{Record: true,
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "far", 40*time.Second, "recording started", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	time.Sleep(3 * time.Second) // the recording's length
	if _, err := c.StopRTMPAndRecording(context.Background(), "far"); err != nil {
		t.Fatal(err)
	}
	rec := waitRecording(t, c, "far", 30*time.Second)
	if _, err := os.Stat(filepath.Join(s.data, "recordings", rec.ID)); !os.IsNotExist(err) {
		t.Fatalf("the recording is on serve's disk (%v); the test wants it only on the worker's", err)
	}
	file := download(t, s, rec)
	p, err := testkit.FFprobe(file)
	if err != nil {
		t.Fatal(err)
	}
	if codec, wd, ht := p.Stream("video"); codec != "h264" || wd != 640 || ht != 360 {
		t.Errorf("downloaded recording video = %s %dx%d, want h264 640x360", codec, wd, ht)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != listedSize(rec, "composite.mp4") {
		t.Errorf("downloaded %v bytes, the recording lists %d (%v)", fi.Size(), listedSize(rec, "composite.mp4"), err)
	}
	mgmt := s.token(t, "--management")
	if status, body := api(t, s, "DELETE", "/v1/recordings/"+rec.ID, mgmt, ""); status != 200 {
		t.Fatalf("delete through serve: %d %s", status, body)
	}
	if _, err := os.Stat(filepath.Join(workerData, "recordings", rec.ID)); !os.IsNotExist(err) {
		t.Errorf("the worker still has the deleted recording: %v", err)
	}
	if recs, err := c.Recordings(context.Background(), "far"); err != nil || len(recs) != 0 {
		t.Errorf("after the delete serve lists %+v (%v)", recs, err)
	}
}

// startWorkerProcess runs `roomcast worker` as another machine would: its
// own data dir, only s's secret shared, on s's NATS, with extra flags; it
// returns the process and its data dir once s lists it, and kills it by pid
// at the end (its log printed when the test failed).
func startWorkerProcess(t *testing.T, s *server, id string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	secret := strings.TrimSpace(readFile(t, filepath.Join(s.data, "secret")))
	data := t.TempDir()
	w := exec.Command(binary, append([]string{"worker", "--nats", "nats://" + s.NATS, "--data", data, "--id", id, "--prewarm=false"}, extra...)...)
	w.Env = append(os.Environ(), "ROOMCAST_SECRET="+secret)
	var logs strings.Builder
	w.Stderr = &logs
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Process.Kill()
		w.Wait()
		raceFree(t, "roomcast worker", logs.String())
		if t.Failed() {
			t.Logf("worker %s log:\n%s", id, logs.String())
		}
	})
	c := client(t, s)
	testkit.WaitFor(t, 15*time.Second, "worker "+id+" listed", func() bool {
		ws, err := c.Workers(context.Background())
		return err == nil && slices.ContainsFunc(ws, func(w roomcast.Worker) bool { return w.ID == id })
	})
	return w, data
}

// Issue 15 with real media: of two workers, a start lands on the one with
// room for its cost. A 360p job costs 0.6 core and 400 MB: "small" has the
// most CPU free, so it is asked first, but only 100 MB, so it declines;
// "roomy" (1 core) takes it, and then has no room for a 720p job (0.9).
func TestStartLandsOnTheWorkerWithRoom(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	s := startServer(t, "--nats-listen", "127.0.0.1:0", "--worker-slots", "0")
	startWorkerProcess(t, s, "small", "--cpu-limit", "4", "--memory-limit-mb", "100")
	startWorkerProcess(t, s, "roomy", "--cpu-limit", "1")
	c := client(t, s)
	if _, err := c.StartRTMPOrRecording(context.Background(), "pick", roomcast.StartParams{Record: true,
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "pick", 40*time.Second, "recording started", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	ws, err := c.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		want := 0
		if w.ID == "roomy" {
			want = 1
		}
		if len(w.Jobs) != want {
			t.Errorf("worker %s runs %d jobs, want %d: %+v", w.ID, len(w.Jobs), want, ws)
		}
	}
	// A 720p job fits nowhere now: refused at once, each worker's reason said.
	_, err = c.StartRTMPOrRecording(context.Background(), "second", roomcast.StartParams{Record: true})
	if err == nil || !strings.Contains(err.Error(), "resource_exhausted") || !strings.Contains(err.Error(), "small:") || !strings.Contains(err.Error(), "roomy:") {
		t.Errorf("a second start: %v, want resource_exhausted naming both workers", err)
	}
	if _, err := c.StopRTMPAndRecording(context.Background(), "pick"); err != nil {
		t.Fatal(err)
	}
}

// listedSize is the size rec lists for its file name (-1: not listed).
func listedSize(rec roomcast.Recording, name string) int64 {
	for _, f := range rec.Files {
		if f.Name == name {
			return f.Size
		}
	}
	return -1
}
