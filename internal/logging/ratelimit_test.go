package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRepeatedWarningsAreRateLimited: a warning repeated 100 times (from
// loggers derived with With, as each connection's is) is written 5 times;
// information lines and other messages are not limited; after the window
// one line counts what was dropped and the warning is written again.
func TestRepeatedWarningsAreRateLimited(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "text", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			log.With("peer", i).Warn("signal queue full; disconnecting slow client")
			log.Info("request refused")
		})
	}
	wg.Wait()
	log.Warn("another warning")
	log.Error("signal queue full; disconnecting slow client") // another level: its own budget
	counts := map[string]int{}
	for line := range strings.Lines(buf.String()) {
		counts[strings.Fields(line)[1]+" "+msgOf(line)]++
	}
	want := map[string]int{
		"level=WARN signal queue full; disconnecting slow client":  repeatBurst,
		"level=INFO request refused":                               100,
		"level=WARN another warning":                               1,
		"level=ERROR signal queue full; disconnecting slow client": 1,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%q written %d times, want %d; log:\n%s", k, counts[k], n, buf.String())
		}
	}
}

func TestSuppressedCountIsWrittenAfterTheWindow(t *testing.T) {
	var buf bytes.Buffer
	h := newLimitHandler(slog.NewTextHandler(&buf, nil), 2, time.Minute)
	now := time.Unix(1000, 0)
	h.state.now = func() time.Time { return now }
	log := slog.New(h)
	for range 10 {
		log.Warn("bad message")
	}
	now = now.Add(59 * time.Second)
	log.Warn("bad message")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("inside the window %d lines were written, want 2:\n%s", n, buf.String())
	}
	now = now.Add(time.Second)
	log.Warn("bad message")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[2], `msg="repeated log message suppressed" message="bad message" suppressed=9 window=1m0s`) ||
		!strings.Contains(lines[3], `msg="bad message"`) {
		t.Errorf("after the window, got:\n%s", buf.String())
	}
}

// msgOf returns the msg value of a text log line.
func msgOf(line string) string {
	_, rest, _ := strings.Cut(line, "msg=")
	if strings.HasPrefix(rest, `"`) {
		m, _, _ := strings.Cut(rest[1:], `"`)
		return m
	}
	m, _, _ := strings.Cut(rest, " ")
	return strings.TrimSpace(m)
}
