package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

var (
	fakeWorkerOnce sync.Once
	fakeWorkerBin  string
	fakeWorkerErr  error
)

// fakeWorker builds test/fakeworker once: the real control.Worker with a
// runner that costs no CPU.
func fakeWorker(t *testing.T) string {
	t.Helper()
	fakeWorkerOnce.Do(func() {
		fakeWorkerBin = filepath.Join(filepath.Dir(binary), "fakeworker")
		out, err := exec.Command("go", "build", "-o", fakeWorkerBin, "./fakeworker").CombinedOutput()
		if err != nil {
			fakeWorkerErr = fmt.Errorf("build fakeworker: %v\n%s", err, out)
		}
	})
	if fakeWorkerErr != nil {
		t.Fatal(fakeWorkerErr)
	}
	return fakeWorkerBin
}

// startFakeWorkers runs n fake worker processes on natsURL, each with the
// flags given, and returns once each said it is ready; killed by pid at
// the test's end.
func startFakeWorkers(t *testing.T, natsURL string, n int, flags ...string) []*exec.Cmd {
	t.Helper()
	bin := fakeWorker(t)
	var cmds []*exec.Cmd
	for i := range n {
		cmd := exec.Command(bin, append([]string{"--nats", natsURL, "--id", fmt.Sprintf("fake-%02d", i)}, flags...)...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("fake worker %d: %q, %v", i, line, err)
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// workers is GET /v1/workers.
func workers(t *testing.T, s *server, token string) []roomcast.Worker {
	t.Helper()
	status, body := api(t, s, "GET", "/v1/workers", token, "")
	var ws []roomcast.Worker
	if status != http.StatusOK || json.Unmarshal([]byte(body), &ws) != nil {
		t.Fatalf("GET /v1/workers: %d %s", status, body)
	}
	return ws
}

// Issue 15: 1,000 starts over 20 worker processes (jobs that cost no CPU)
// through one server: each job is placed on exactly one worker, the load
// is spread evenly (least loaded first), no worker takes more than its
// capacity, and once every worker is full a start is refused at once with
// resource_exhausted, the room unchanged. Placement latency is printed.
func TestThousandStartsOverTwentyWorkers(t *testing.T) {
	need(t)
	natsURL := startNATS(t)
	s := startServer(t, "--nats", natsURL, "--worker-slots", "0")
	mgmt := s.token(t, "--management")
	// 50 jobs each: 5 cores at 0.1 a job (the slots would allow 60).
	const nWorkers, perWorker = 20, 50
	startFakeWorkers(t, natsURL, nWorkers, "--cpu-limit", "5", "--slots", "60", "--job-costs", "360p=0.1:10,720p=0.1:10")
	testkit.WaitFor(t, 10*time.Second, "20 workers listed", func() bool { return len(workers(t, s, mgmt)) == nWorkers })

	start := func(from, to int) []time.Duration {
		lat := make([]time.Duration, to-from)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16) // concurrent API calls
		for i := from; i < to; i++ {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				t0 := time.Now()
				status, body := api(t, s, "POST", fmt.Sprintf("/v1/rooms/r%04d/beam/start", i), mgmt, `{"record": true}`)
				lat[i-from] = time.Since(t0)
				if status != http.StatusAccepted {
					t.Errorf("start %d: %d %s", i, status, body)
				}
			})
		}
		wg.Wait()
		return lat
	}
	spread := func(want int) []roomcast.Worker {
		t.Helper()
		var ws []roomcast.Worker
		testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d jobs listed", want*nWorkers), func() bool {
			ws = workers(t, s, mgmt)
			n := 0
			for _, w := range ws {
				n += len(w.Jobs)
			}
			return n == want*nWorkers
		})
		loads := make([]int, len(ws))
		for i, w := range ws {
			loads[i] = len(w.Jobs)
			if w.Load > perWorker || w.CPU.Reserved > w.CPU.Limit+1e-9 {
				t.Errorf("worker %s holds %d jobs, %.2f of %.2f cores: over its capacity", w.ID, w.Load, w.CPU.Reserved, w.CPU.Limit)
			}
		}
		if lo, hi := slices.Min(loads), slices.Max(loads); hi-lo > 2 {
			t.Errorf("after %d starts the workers hold %v jobs: not spread evenly", want*nWorkers, loads)
		}
		return ws
	}
	lat := start(0, 500)
	spread(25)
	lat = append(lat, start(500, 1000)...)
	ws := spread(perWorker)
	// Each job is on exactly one worker.
	seen := map[string]string{}
	for _, w := range ws {
		for _, j := range w.Jobs {
			if other, dup := seen[j.Room]; dup {
				t.Errorf("room %s runs on %s and on %s", j.Room, other, w.ID)
			}
			seen[j.Room] = w.ID
		}
	}
	if len(seen) != 1000 {
		t.Errorf("%d rooms run a job, want 1000", len(seen))
	}
	slices.Sort(lat)
	t.Logf("placement (API start call, 16 at a time, 1,000 starts over %d workers): p50 %v, p90 %v, p99 %v, max %v",
		nWorkers, lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1])

	// All full: refused at once, nothing written.
	t0 := time.Now()
	status, body := api(t, s, "POST", "/v1/rooms/one-more/beam/start", mgmt, `{"record": true}`)
	took := time.Since(t0)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"resource_exhausted"`) || !strings.Contains(body, "5.00 of 5.00 cores") {
		t.Errorf("start with every worker full: %d %s", status, body)
	}
	if took > 2*time.Second {
		t.Errorf("the refusal took %v", took)
	}
	if status, body := api(t, s, "GET", "/v1/rooms/one-more/beam", mgmt, ""); status != http.StatusNotFound || !strings.Contains(body, "never streamed or recorded") {
		t.Errorf("the refused start left the room %s", body)
	}
	t.Logf("refusal with every worker full: %v: %s", took, body)
}

// Issue 15: a drained worker finishes its job while new jobs go elsewhere.
// Two worker processes on one external NATS: SIGTERM to the one running a
// job, and it is listed draining at once; every start from then on lands
// on the other; its job goes on until --drain-timeout and then stops as
// "worker drained", and the process exits 0.
func TestDrainedWorkerFinishesWhileNewJobsGoElsewhere(t *testing.T) {
	need(t)
	natsURL := startNATS(t)
	s := startServer(t, "--nats", natsURL, "--worker-slots", "0")
	mgmt := s.token(t, "--management")
	const drainTimeout = 3 * time.Second
	cmds := startFakeWorkers(t, natsURL, 2, "--drain-timeout", drainTimeout.String(), "--job-costs", "360p=0.1:10,720p=0.1:10")
	testkit.WaitFor(t, 10*time.Second, "2 workers listed", func() bool { return len(workers(t, s, mgmt)) == 2 })
	if status, body := api(t, s, "POST", "/v1/rooms/old/beam/start", mgmt, `{"record": true}`); status != http.StatusAccepted {
		t.Fatalf("start: %d %s", status, body)
	}
	holder := func(room string) string {
		for _, w := range workers(t, s, mgmt) {
			for _, j := range w.Jobs {
				if j.Room == room {
					return w.ID
				}
			}
		}
		return ""
	}
	c := client(t, s)
	waitBeam(t, c, "old", 10*time.Second, "the job running", func(st roomcast.BeamState) bool { return st.Recording.Browser.Running })
	drained := holder("old")
	i := slices.IndexFunc(cmds, func(c *exec.Cmd) bool { return slices.Contains(c.Args, drained) })
	exited := make(chan error, 1)
	go func() { exited <- cmds[i].Wait() }()
	signalled := time.Now()
	if err := cmds[i].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "the worker listed draining", func() bool {
		for _, w := range workers(t, s, mgmt) {
			if w.ID == drained {
				return w.State == roomcast.WorkerDraining
			}
		}
		return false
	})
	for n := range 6 {
		room := fmt.Sprintf("new%d", n)
		if status, body := api(t, s, "POST", "/v1/rooms/"+room+"/beam/start", mgmt, `{"record": true}`); status != http.StatusAccepted {
			t.Fatalf("start %s while one worker drains: %d %s", room, status, body)
		}
		var on string
		testkit.WaitFor(t, 10*time.Second, room+" placed", func() bool { on = holder(room); return on != "" })
		if on == drained {
			t.Errorf("%s was placed on %s, which is draining", room, on)
		}
	}
	if st, _ := c.BeamState(context.Background(), "old"); !st.Recording.Browser.Running && time.Since(signalled) < drainTimeout {
		t.Errorf("the draining worker's job did not go on: %+v", st.Recording.Browser)
	}
	st := waitBeam(t, c, "old", drainTimeout+10*time.Second, "the drained job stopped", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State != roomcast.RecordingStateStarted
	})
	if b := st.Recording.Browser; b.State != roomcast.RecordingStateStopped || b.Reason != "worker drained" {
		t.Errorf("after the drain: %+v, want stopped for \"worker drained\"", b)
	}
	if ran := time.Since(signalled); ran < drainTimeout {
		t.Errorf("the job stopped %v after the drain began, before the %v drain timeout", ran, drainTimeout)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the drained worker exited with %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the drained worker did not exit")
	}
}
