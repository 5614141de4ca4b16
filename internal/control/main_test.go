package control

import (
	"testing"

	"go.uber.org/goleak"
)

// The controller, the workers and their jobs wait for every goroutine they
// start.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
