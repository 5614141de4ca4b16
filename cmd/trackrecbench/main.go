// Command trackrecbench measures what SFU track recording costs per track:
// it feeds N tracks (half VP8 video at ~500 kbit/s, half Opus at 32 kbit/s,
// real frames made with ffmpeg, packetized as a browser would) into the
// recorder in real time, exactly as the SFU's forwarding loop does, and reads
// this process's CPU time over a fixed window. The same feed into sinks that
// discard is measured first, so the recorder's share is the difference.
// The naive baseline (--naive) sends the same feed as RTP over UDP to one
// `ffmpeg -c copy` per track, the usual way to record tracks without an
// in-process recorder.
//
//	go run ./cmd/trackrecbench [--tracks 50,200,500] [--naive 50] [--window 10s] [--dir /tmp]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/trackrec"
)

func main() {
	counts := flag.String("tracks", "50,200,500", "track counts to measure (half video, half audio)")
	window := flag.Duration("window", 10*time.Second, "measurement window per count")
	dir := flag.String("dir", os.TempDir(), "where recordings are written")
	naive := flag.String("naive", "50", "track counts for the baseline of one ffmpeg per track (\"\" skips it)")
	flag.Parse()
	if err := run(*counts, *naive, *window, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "trackrecbench:", err)
		os.Exit(1)
	}
}

func run(counts, naive string, window time.Duration, dir string) error {
	work, err := os.MkdirTemp(dir, "trackrecbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	media, err := loadMedia(work)
	if err != nil {
		return err
	}
	fmt.Printf("Track recording cost: N tracks (N/2 VP8 640x360 ~%d kbit/s, N/2 Opus ~%d kbit/s), fed in real time; process CPU over %v.\n",
		media.videoKbps(), media.audioKbps(), window)
	fmt.Println("Recorder CPU = CPU while recording - CPU of the same feed into discarding sinks.")
	fmt.Println()
	perTrack := map[int]float64{}
	fmt.Println("| tracks | packets/s | feed only (% of a core) | feed + recorder (% of a core) | recorder (% of a core) | recorder per track (% of a core) | tracks per core | lost | dropped | written MB/s |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, f := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return fmt.Errorf("--tracks: %q is not a count of at least 2", f)
		}
		base := measure(media, n, window, nil)
		recs, err := recordings.Open(filepath.Join(work, "recordings"))
		if err != nil {
			return err
		}
		rec := measure(media, n, window, recs)
		cpu := rec.cpu - base.cpu
		perCore := "-"
		if cpu > 0 {
			perCore = fmt.Sprintf("%.0f", float64(n)/(cpu/100))
		}
		fmt.Printf("| %d | %.0f | %.1f | %.1f | %.1f | %.3f | %s | %d | %d | %.1f |\n",
			n, rec.pps, base.cpu, rec.cpu, cpu, cpu/float64(n), perCore, rec.lost, rec.dropped, rec.mbps)
		perTrack[n] = cpu / float64(n)
		os.RemoveAll(filepath.Join(work, "recordings"))
	}
	if naive == "" {
		return nil
	}
	fmt.Println()
	fmt.Println("Naive baseline: the same feed as RTP over UDP to one `ffmpeg -c copy` per track (ffmpeg CPU only).")
	fmt.Println()
	fmt.Println("| tracks | ffmpeg processes (% of a core) | per track (% of a core) | tracks per core | × the recorder per track |")
	fmt.Println("|---|---|---|---|---|")
	for _, f := range strings.Split(naive, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return fmt.Errorf("--naive: %q is not a count of at least 2", f)
		}
		nd := filepath.Join(work, "naive")
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return err
		}
		r, err := measureNaive(media, n, window, nd)
		if err != nil {
			return err
		}
		ratio := "-"
		if p, ok := perTrack[n]; ok && p > 0 {
			ratio = fmt.Sprintf("%.1f", r.cpu/float64(n)/p)
		}
		fmt.Printf("| %d | %.1f | %.3f | %.0f | %s |\n", n, r.cpu, r.cpu/float64(n), float64(n)/(r.cpu/100), ratio)
		os.RemoveAll(nd)
	}
	return nil
}

type result struct {
	cpu, pps, mbps float64
	lost, dropped  uint64
}

// measure feeds n tracks for a warm-up and the window; with recs nil the
// sinks discard, else a trackrec.Manager records into recs.
func measure(m *media, n int, window time.Duration, recs *recordings.Store) result {
	tap := &capture{}
	var mgr *trackrec.Manager
	stopRec, recorded := func() {}, make(chan jobs.Outcome, 1)
	if recs != nil {
		mgr = trackrec.NewManager(tap, recs, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		go func() {
			recorded <- mgr.Run(ctx, jobs.Job{ID: "bench", Kind: jobs.KindTracks, Room: "bench"}, func(jobs.Progress) { close(started) })
		}()
		<-started
		stopRec = cancel
	} else {
		tap.t = discard{}
	}
	feeds := newFeeds(m, n, tap.t)
	droppedBefore := trackrec.Dropped.Load()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { feeds.run(stop); close(done) }()
	time.Sleep(2 * time.Second) // warm-up: files opened, first keyframes
	cpu0, t0 := cpuTime(), time.Now()
	sent0 := feeds.sent.Load()
	time.Sleep(window)
	cpu1, t1 := cpuTime(), time.Now()
	sent1 := feeds.sent.Load()
	close(stop)
	<-done
	feeds.close()
	r := result{cpu: 100 * (cpu1 - cpu0).Seconds() / t1.Sub(t0).Seconds(),
		pps: float64(sent1-sent0) / t1.Sub(t0).Seconds()}
	if mgr != nil {
		stopRec()
		<-recorded
		mgr.Close() // the files are final
		r.dropped = trackrec.Dropped.Load() - droppedBefore
		var recID string
		if list, err := recs.List("bench"); err == nil && len(list) > 0 {
			recID = list[len(list)-1].ID
		}
		if dir, err := recs.Dir(recID); err == nil {
			if man, err := trackrec.ReadManifest(dir); err == nil {
				for _, t := range man.Tracks {
					r.lost += t.LostPackets
				}
			}
			r.mbps = float64(dirSize(dir)) / 1e6 / feeds.elapsed.Seconds()
		}
	}
	return r
}

// capture is the SFU side the Manager sees: it keeps the tap to feed.
type capture struct{ t sfu.Tap }

func (c *capture) SetTap(_ string, t sfu.Tap) func() {
	c.t = t
	return func() {}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirSize(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}
