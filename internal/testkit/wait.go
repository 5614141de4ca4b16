package testkit

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing the test with what after
// timeout: the readiness wait for tests (never a bare sleep).
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
