package e2e

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/procstat"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// BenchmarkAudioOnlyCost measures what an audio-only job costs its worker
// (issue 16: ≤ 0.1 core) next to the naive baseline, a 640x360 recording
// of the same room whose picture is thrown away, in the same run: one room
// with a Go publisher sending VP8 640x360 30 fps + Opus in real time, one
// recording job, no warm sandbox; after a 5 s settle, the CPU time of the
// server's children (Chromium, ffmpeg, Xvfb, PulseAudio: the job's
// processes; the SFU inside the server costs the same either way) over
// 15 s, and their memory (PSS).
//
//	CI=true go test -run '^$' -bench AudioOnlyCost -benchtime 1x ./test/
func BenchmarkAudioOnlyCost(b *testing.B) {
	need(b, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	for range b.N {
		audio := jobCost(b, roomcast.StartParams{Record: true, AudioOnly: true})
		video := jobCost(b, roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}})
		b.Logf("audio-only job: %.3f cores, %d MB; 640x360 job: %.3f cores, %d MB; audio-only costs %.0f %% of the CPU",
			audio.cores, audio.pssMB, video.cores, video.pssMB, 100*audio.cores/video.cores)
		b.Logf("audio-only by process: %v", audio)
		b.Logf("640x360 by process: %v", video)
		b.ReportMetric(audio.cores, "audio-only-cores")
		b.ReportMetric(video.cores, "360p-cores")
	}
}

type jobUse struct {
	cores float64
	pssMB int
	by    map[string]float64 // cores by command name
}

// String lists where the cores go, the busiest first.
func (u jobUse) String() string {
	comms := slices.SortedFunc(maps.Keys(u.by), func(a, b string) int { return cmp.Compare(u.by[b], u.by[a]) })
	var parts []string
	for _, c := range comms {
		if u.by[c] >= 0.001 {
			parts = append(parts, fmt.Sprintf("%s %.3f", c, u.by[c]))
		}
	}
	return strings.Join(parts, ", ")
}

func jobCost(b *testing.B, p roomcast.StartParams) jobUse {
	s := startServer(b, "--prewarm=false")
	defer s.stop(b)
	fx := syncFixtures(b, 40)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	pub := joinPublisher(b, s, "cost", "presenter", true, true)
	var frames int
	wg.Go(func() { playIVF(ctx, fx.ivf, pub.video, &frames) })
	wg.Go(func() { playOgg(ctx, fx.ogg, pub.audio, &frames) })
	c := roomcast.NewClient(s.URL, s.token(b, "--management"))
	if _, err := c.StartRTMPOrRecording(context.Background(), "cost", p); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) { // poll interval
		st, err := c.BeamState(context.Background(), "cost")
		if err == nil && st.Recording.Browser.Running {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the job did not start: %+v (%v)", st, err)
		}
	}
	time.Sleep(5 * time.Second) // settle: the page's start passes
	pid := s.cmd.Process.Pid
	cpu0, t0 := descendantsCPU(pid), time.Now()
	time.Sleep(15 * time.Second) // the measured window
	cpu1, t1 := descendantsCPU(pid), time.Now()
	use := jobUse{pssMB: descendantsPSS(pid) / 1024, by: map[string]float64{}}
	for comm, d := range cpu1 {
		c := (d - cpu0[comm]).Seconds() / t1.Sub(t0).Seconds()
		use.cores += c
		use.by[comm] = c
	}
	c.StopRTMPAndRecording(context.Background(), "cost")
	return use
}

// descendantsCPU is the CPU time used so far by pid's descendants, by
// command name.
func descendantsCPU(pid int) map[string]time.Duration {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	stats := map[int]procstat.Stat{}
	for _, p := range procs {
		id, _ := strconv.Atoi(filepath.Base(p))
		if st, err := procstat.Read(id); err == nil {
			stats[id] = st
		}
	}
	total := map[string]time.Duration{}
	for _, st := range stats {
		for a := st.PPID; a > 1; a = stats[a].PPID {
			if a == pid {
				total[st.Comm] += st.CPU
				break
			}
			if _, ok := stats[a]; !ok {
				break
			}
		}
	}
	return total
}
