package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ms formats a duration as milliseconds; negative means it did not happen.
func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 || slices.Contains(ds, -1) {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (b *bench) runLatency() error {
	var runs []latencyRun
	if b.o.prewarm { // the server's first warm sandbox
		if err := b.waitIdle(); err != nil {
			return err
		}
	}
	for i := range b.o.latencyRuns {
		progress("latency run %d/%d", i+1, b.o.latencyRuns)
		r, err := b.latency()
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	mode := "no warm sandbox: every run starts Xvfb, PulseAudio and Chromium"
	if b.o.prewarm {
		mode = "--prewarm: a warm sandbox waits for each run"
	}
	what := fmt.Sprintf("%dx%d", b.o.latencySize.Width, b.o.latencySize.Height)
	if b.o.latencyAudio {
		what = "audio-only"
	}
	fmt.Printf("### Start latency (%s, 1 destination), from the API call (%s)\n", what, mode)
	fmt.Println()
	fmt.Println("| run | worker claimed | Xvfb spawned | Chromium spawned | page load began | page joined | first encoded frame | nginx on_publish | first video frame via nginx | first audio via nginx | state `started` (50 ms polls) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	col := func(f func(latencyRun) time.Duration) []time.Duration {
		var out []time.Duration
		for _, r := range runs {
			out = append(out, f(r))
		}
		return out
	}
	cols := [][]time.Duration{
		col(func(r latencyRun) time.Duration { return r.claimed }),
		col(func(r latencyRun) time.Duration { return r.xvfb }),
		col(func(r latencyRun) time.Duration { return r.chromium }),
		col(func(r latencyRun) time.Duration { return r.loading }),
		col(func(r latencyRun) time.Duration { return r.joined }),
		col(func(r latencyRun) time.Duration { return r.flowing }),
		col(func(r latencyRun) time.Duration { return r.onPublish }),
		col(func(r latencyRun) time.Duration { return r.video }),
		col(func(r latencyRun) time.Duration { return r.audio }),
		col(func(r latencyRun) time.Duration { return r.started }),
	}
	for i := range runs {
		name := fmt.Sprintf("%d (warm)", i+1)
		if i == 0 {
			name = "1 (cold)"
		}
		cells := []string{name}
		for _, c := range cols {
			cells = append(cells, ms(c[i]))
		}
		fmt.Println("| " + strings.Join(cells, " | ") + " |")
	}
	cells := []string{"median"}
	for _, c := range cols {
		cells = append(cells, ms(median(c)))
	}
	fmt.Println("| " + strings.Join(cells, " | ") + " |")
	fmt.Println()
	return nil
}

// printCPU prints rows as a table; ratios are against the first row.
func printCPU(title string, rows []cpuRow) {
	fmt.Println("### " + title)
	fmt.Println()
	fmt.Println("| scenario | Chromium | ffmpeg | Xvfb | Pulse | roomcast | total | × first row | video fps at nginx (lowest stream) | machine busy (all cores) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	labels := []string{"server", "extra"}
	base := rows[0].u.total(labels...)
	var notes []string
	for _, r := range rows {
		t := r.u.total(labels...)
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %.0f |\n", r.name,
			r.u.get("chromium", labels...), r.u.get("ffmpeg", labels...), r.u.get("Xvfb", labels...),
			r.u.get("pulse", labels...), r.u.get("roomcast", labels...), t, t/base, r.fps, r.machine)
		pub := r.u.total("publisher")
		if o := r.u.get("other", labels...); o > 0.05 {
			notes = append(notes, fmt.Sprintf("%s: other processes in the tree %.1f %% (in total)", r.name, o))
		}
		notes = append(notes, fmt.Sprintf("%s: pulseaudio %.1f + pacat %.1f; publisher Chromium (outside the tree, not in the total) %.1f",
			r.name, r.byName.get("pulseaudio", labels...), r.byName.get("pacat", labels...), pub))
		if r.note != "" {
			notes = append(notes, r.name+": "+r.note)
		}
	}
	fmt.Println()
	fmt.Println("CPU in % of one core.")
	for _, n := range notes {
		fmt.Println("- " + n)
	}
	fmt.Println()
}

func (b *bench) runFanout() error {
	var rows []cpuRow
	for _, s := range []struct {
		name         string
		dests, extra int
	}{
		{"1280x720, 1 destination", 1, 0},
		{"1280x720, 3 destinations (one encode, Go fan-out)", 3, 0},
		{"1280x720, naive: 1 destination + 2 more ffmpeg encoders", 1, 2},
	} {
		progress("CPU: %s", s.name)
		r, err := b.cpu(s.name, 1280, 720, s.dests, s.extra)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	printCPU("CPU at 1280x720: 1 vs 3 destinations vs 3 encoders", rows)
	return nil
}

func (b *bench) runResolution() error {
	var rows []cpuRow
	for _, s := range []struct {
		name string
		w, h int
	}{{"640x360, 1 destination", 640, 360}, {"1280x720, 1 destination", 1280, 720}} {
		progress("CPU: %s", s.name)
		r, err := b.cpu(s.name, s.w, s.h, 1, 0)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	printCPU("CPU per job by resolution", rows)
	return nil
}

func (b *bench) runRecord() error {
	fmt.Printf("### Stop → recording listed ready (record-only job, 1280x720, ~%v)\n\n", b.o.recordFor)
	var lines []string
	var ready []time.Duration
	for i := range b.o.recordRuns {
		progress("recording run %d/%d", i+1, b.o.recordRuns)
		r, err := b.record()
		if err != nil {
			return err
		}
		ready = append(ready, r.ready)
		lines = append(lines, fmt.Sprintf("| %d | %.2f s | %.2f s | %s | %s | %.1f MB |", i+1, r.ran.Seconds(), r.length,
			ms(r.stopCall), ms(r.ready), float64(r.size)/1e6))
	}
	fmt.Println("| run | ran (state started → stop call) | listed duration | stop call returned | stop call → listed `ready` (50 ms polls) | size |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("| median | | | | %s | |\n\n", ms(median(ready)))
	return nil
}
