package testkit

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// Trickle writes one byte a second to c until the test ends: a client
// that sends its body as slowly as it can.
func Trickle(t testing.TB, c net.Conn) {
	done, stopped := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
}

// Closed reads r to its end and reports whether the peer closed the
// connection (rather than the read deadline passing first).
func Closed(r io.Reader) bool {
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}
