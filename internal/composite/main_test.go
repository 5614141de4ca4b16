package composite

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a job starts (the page watch, the limits, the
// destinations, the monitor, a warm sandbox's launch) ends with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
