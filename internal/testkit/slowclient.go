package testkit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// Dial connects to addr for a test that speaks HTTP by hand; reads on the
// connection time out after 3 s, and it is closed when the test ends.
func Dial(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	return c, bufio.NewReader(c)
}

// SlowPost sends the headers of a POST to path (with extraHeaders, each
// ending in CRLF) announcing a 60000-byte JSON body, then the body's first
// byte, then a byte a second until the test ends.
func SlowPost(t testing.TB, addr, path, extraHeaders string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, br := Dial(t, addr)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: roomcast\r\nContent-Type: application/json\r\n%sContent-Length: 60000\r\n\r\n{", path, extraHeaders)
	Trickle(t, c)
	return c, br
}

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
