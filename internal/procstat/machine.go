package procstat

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Busy measures how many of the machine's cores are busy (/proc/stat),
// between one call of Sample and the next.
type Busy struct {
	mu          sync.Mutex
	busy, total uint64
	cores       float64
}

// Sample returns the busy cores since the previous Sample (0 on the
// first, or where /proc/stat cannot be read).
func (b *Busy) Sample() float64 {
	busy, total, err := cpuTimes()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		return 0
	}
	if b.total != 0 && total > b.total {
		b.cores = float64(busy-b.busy) / float64(total-b.total) * float64(runtime.NumCPU())
	}
	b.busy, b.total = busy, total
	return b.cores
}

// cpuTimes sums the machine's CPU time (clock ticks) from /proc/stat's
// first line: busy is all but idle and iowait.
func cpuTimes() (busy, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("procstat: unexpected /proc/stat: %q", line)
	}
	for i, v := range fields[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("procstat: /proc/stat: %w", err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// MemoryMB is the machine's memory in MB (/proc/meminfo MemTotal; 0 when
// it cannot be read).
func MemoryMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}
