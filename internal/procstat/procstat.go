// Package procstat reads a process's CPU time and parentage from
// /proc/<pid>/stat (Linux), for the benchmark tools.
package procstat

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the clock tick /proc reports times in (USER_HZ, 100 on Linux).
const userHZ = 100

// Stat is what the tools use of /proc/<pid>/stat.
type Stat struct {
	Comm  string        // command name, as the kernel keeps it
	PPID  int           // parent
	CPU   time.Duration // user + system time so far
	Start uint64        // start time in clock ticks after boot (tells reused pids apart)
}

var errFormat = errors.New("procstat: unexpected /proc/<pid>/stat format")

// Read returns pid's stat; an error when the process is gone.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	s := string(b)
	// The command name is in parentheses and may hold spaces and ')':
	// the fields after the last ')' start with field 3 (state).
	i := strings.LastIndexByte(s, ')')
	open := strings.IndexByte(s, '(')
	if i < 0 || open < 0 || open > i {
		return Stat{}, errFormat
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return Stat{}, errFormat
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return Stat{Comm: s[open+1 : i], PPID: ppid, CPU: time.Duration(ut+st) * time.Second / userHZ, Start: start}, nil
}
