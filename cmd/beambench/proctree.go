package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/procstat"
)

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid int
	start     uint64        // start time in ticks: with pid, identifies the process
	cpu       time.Duration // user + system
	name      string        // executable's base name
	group     string
}

// procs reads every process on the machine.
func procs() map[int]proc {
	ents, _ := os.ReadDir("/proc")
	out := make(map[int]proc, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := procstat.Read(pid)
		if err != nil {
			continue // gone
		}
		name := exeName(pid, st.Comm)
		out[pid] = proc{pid: pid, ppid: st.PPID, start: st.Start, cpu: st.CPU, name: name, group: groupOf(name)}
	}
	return out
}

// exeName is the base name of pid's executable (comm when unreadable).
func exeName(pid int, comm string) string {
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		return filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
	}
	return comm
}

// groupOf puts a process in a column by its executable: /usr/bin/chromium
// is a wrapper, /usr/lib/chromium/chromium the real binary every Chromium
// process runs.
func groupOf(name string) string {
	switch {
	case name == "chromium" || strings.HasPrefix(name, "chrome"):
		return "chromium"
	case name == "ffmpeg":
		return "ffmpeg"
	case name == "Xvfb":
		return "Xvfb"
	case name == "pulseaudio" || name == "pacat":
		return "pulse"
	case name == "roomcast":
		return "roomcast"
	}
	return "other"
}

// inTree reports whether pid's ancestor chain reaches root.
func inTree(all map[int]proc, pid, root int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		if pid == root {
			return true
		}
		p, ok := all[pid]
		if !ok {
			return false
		}
		pid = p.ppid
	}
	return pid == root
}

// tree lists the processes under root (root included).
func tree(root int) []proc {
	all := procs()
	var out []proc
	for pid, p := range all {
		if inTree(all, pid, root) {
			out = append(out, p)
		}
	}
	return out
}

// usage is CPU in % of one core per tree label and group.
type usage map[string]map[string]float64

// get is the CPU of group in the trees labelled labels, summed.
func (u usage) get(group string, labels ...string) float64 {
	var sum float64
	for _, l := range labels {
		sum += u[l][group]
	}
	return sum
}

// total is everything under labels.
func (u usage) total(labels ...string) float64 {
	var sum float64
	for _, l := range labels {
		for _, v := range u[l] {
			sum += v
		}
	}
	return sum
}

type procKey struct {
	pid   int
	start uint64
}

type seen struct {
	label, group, name string
	first, last        time.Duration // CPU time at the first and last sample
}

// measureCPU samples the trees under roots (label → root pids) every
// 250 ms for window. A process alive at the start counts from its ticks
// then; one born inside the window counts from zero; one that ended
// counts up to its last sample (its last < 250 ms are lost).
// The second result is the same by executable name, the third the whole
// machine's busy time (all cores, from /proc/stat).
func measureCPU(ctx context.Context, window time.Duration, roots map[string][]int) (usage, usage, float64, error) {
	acc := map[procKey]*seen{}
	sample := func(firstRound bool) {
		all := procs()
		for pid, p := range all {
		find:
			for label, rs := range roots {
				for _, r := range rs {
					if !inTree(all, pid, r) {
						continue
					}
					k := procKey{pid, p.start}
					s := acc[k]
					if s == nil {
						s = &seen{label: label, group: p.group, name: p.name}
						if firstRound {
							s.first = p.cpu
						}
						acc[k] = s
					}
					s.last = p.cpu
					break find
				}
			}
		}
	}
	t0, busy0 := time.Now(), machineBusy()
	sample(true)
	for time.Since(t0) < window {
		if err := sleep(ctx, min(250*time.Millisecond, window-time.Since(t0))); err != nil {
			return nil, nil, 0, err
		}
		sample(false)
	}
	el := time.Since(t0).Seconds()
	machine := (machineBusy() - busy0) / 100 / el * 100
	u, byName := usage{}, usage{}
	for _, s := range acc {
		if u[s.label] == nil {
			u[s.label], byName[s.label] = map[string]float64{}, map[string]float64{}
		}
		pct := (s.last - s.first).Seconds() / el * 100
		u[s.label][s.group] += pct
		byName[s.label][s.name] += pct
	}
	return u, byName, machine, nil
}

// machineBusy is the machine's non-idle CPU time in ticks, all cores.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy float64
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i != 3 && i != 4 && i < 8 { // not idle, iowait; guest is in user already
			busy += n
		}
	}
	return busy
}

// spawns polls the tree under root every 20 ms until stop closes and
// returns when each group's first process appeared.
func spawns(root int, stop <-chan struct{}) map[string]time.Time {
	first := map[string]time.Time{}
	for {
		now := time.Now()
		for _, p := range tree(root) {
			if _, ok := first[p.group]; !ok && p.pid != root {
				first[p.group] = now
			}
		}
		select {
		case <-stop:
			return first
		case <-time.After(20 * time.Millisecond):
		}
	}
}
