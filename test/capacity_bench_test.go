package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// BenchmarkConcurrentJobs measures how many composite jobs one machine
// holds in realtime (issue 15): n rooms, each with a Go publisher sending
// VP8 640x360 30 fps + Opus in real time, and n recording jobs at once
// (admission opened wide: the machine is measured, not the cost model).
// After a 10 s settle it reads each job's encoder over 10 s from /metrics:
// speed (1 is realtime) and the frames it had to repeat, and the memory
// (PSS) of the server's children.
//
//	CI=true go test -run '^$' -bench ConcurrentJobs -benchtime 1x ./test/
//
// ROOMCAST_CAPACITY="640x360:1,2,3 1280x720:1,2" picks the sizes and job
// counts.
func BenchmarkConcurrentJobs(b *testing.B) {
	need(b, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	plan := os.Getenv("ROOMCAST_CAPACITY")
	if plan == "" {
		plan = "640x360:1,2,3 1280x720:1,2"
	}
	for range b.N {
		for _, part := range strings.Fields(plan) {
			size, counts, _ := strings.Cut(part, ":")
			var res roomcast.Resolution
			fmt.Sscanf(size, "%dx%d", &res.Width, &res.Height)
			for _, c := range strings.Split(counts, ",") {
				n, _ := strconv.Atoi(c)
				r := concurrentJobs(b, res, n)
				b.Logf("%dx%d × %d: speed min %.2f, repeated frames %.1f %%, encoded %.1f fps per job, memory (PSS) %d MB, realtime %v",
					res.Width, res.Height, n, r.minSpeed, 100*r.repeated, r.fps, r.pssMB, r.realtime())
			}
		}
	}
}

type capacity struct {
	minSpeed, repeated, fps float64
	pssMB                   int
}

// realtime: every job keeps up with the clock and repeats under 2 % of its
// frames (output fps ≥ 29.4 of distinct pictures).
func (c capacity) realtime() bool { return c.minSpeed >= 0.98 && c.repeated < 0.02 }

func concurrentJobs(b *testing.B, res roomcast.Resolution, n int) capacity {
	s := startServer(b, "--worker-slots", strconv.Itoa(n), "--cpu-limit", "64")
	fx := syncFixtures(b, 40)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	c := roomcast.NewClient(s.URL, s.token(b, "--management"))
	for i := range n {
		room := fmt.Sprintf("cap%d", i)
		pub := joinPublisher(b, s, room, "presenter", true, true)
		var frames int
		wg.Go(func() { playIVF(ctx, fx.ivf, pub.video, &frames) })
		wg.Go(func() { playOgg(ctx, fx.ogg, pub.audio, &frames) })
		if _, err := c.StartRTMPOrRecording(context.Background(), room, roomcast.StartParams{Record: true, Resolution: &res}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range n {
		room := fmt.Sprintf("cap%d", i)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) { // poll interval
			st, err := c.BeamState(context.Background(), room)
			if err == nil && st.Recording.Browser.Running {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("job %s did not start: %+v (%v)", room, st, err)
			}
		}
	}
	time.Sleep(10 * time.Second) // settle: warm-up spikes pass
	before := encoderCounters(b, s)
	time.Sleep(10 * time.Second) // the measured window
	after := encoderCounters(b, s)
	out := capacity{minSpeed: 9, pssMB: childrenPSS(s.cmd.Process.Pid) / 1024}
	var frames, repeats float64
	for job, a := range after {
		p, ok := before[job]
		if !ok {
			continue
		}
		out.minSpeed = min(out.minSpeed, a.speed)
		frames += a.frames - p.frames
		repeats += a.dups - p.dups
	}
	if frames > 0 {
		out.repeated = repeats / frames
		out.fps = frames / float64(n) / 10
	}
	for i := range n {
		c.StopRTMPAndRecording(context.Background(), fmt.Sprintf("cap%d", i))
	}
	s.stop(b) // the next count starts on an idle machine
	return out
}

type encoderSample struct{ frames, dups, speed float64 }

// encoderCounters reads each running job's encoder counters from /metrics.
func encoderCounters(b *testing.B, s *server) map[string]encoderSample {
	out := map[string]encoderSample{}
	for _, l := range strings.Split(string(httpGet(b, s.URL+"/metrics")), "\n") {
		i := strings.Index(l, `job="`)
		if !strings.HasPrefix(l, "roomcast_encoder_") || i < 0 {
			continue
		}
		job := l[i+5:]
		job = job[:strings.IndexByte(job, '"')]
		f := strings.Fields(l)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		e := out[job]
		switch {
		case strings.HasPrefix(l, "roomcast_encoder_frames_total"):
			e.frames = v
		case strings.HasPrefix(l, "roomcast_encoder_duplicated_frames_total"):
			e.dups = v
		case strings.HasPrefix(l, "roomcast_encoder_speed"):
			e.speed = v
		}
		out[job] = e
	}
	return out
}

// childrenPSS sums the proportional set size (kB) of pid's descendants.
func childrenPSS(pid int) int {
	total := 0
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(kids)) {
		k, _ := strconv.Atoi(f)
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", k)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(l, "Pss:"); ok {
					kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
					total += kb
				}
			}
		}
		total += childrenPSS(k)
	}
	return total
}
