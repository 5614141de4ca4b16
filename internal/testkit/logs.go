package testkit

import (
	"bytes"
	"sync"
)

// LogBuffer is a log sink that goroutines may write to while a test reads
// it (a slog handler's writer in tests that check what was logged).
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
