package app

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// limits bounds how long a client may take over each part of an HTTP
// exchange, so a slow or idle one cannot hold a connection (and its
// goroutine) without end.
type limits struct {
	// Header is the time to send a request's headers.
	Header time.Duration
	// Read is the time to send a whole request, headers and body. A body
	// read past it fails with os.ErrDeadlineExceeded (the API answers 400)
	// and the connection is not reused. net/http lifts the deadline once
	// the body is read to its end, so a handler may run longer.
	Read time.Duration
	// Write bounds writing a response; a handler with a longer answer (a
	// recording's download) lifts it.
	Write time.Duration
	// Idle is how long a keep-alive connection may wait for its next
	// request.
	Idle time.Duration
}

// defaultLimits are serve's. Write leaves room for a stop, which waits up to
// 20 s for the worker.
var defaultLimits = limits{Header: 10 * time.Second, Read: 10 * time.Second, Write: time.Minute, Idle: 2 * time.Minute}

// newHTTPServer serves h within lim. WebSockets (/rtc) are not cut by these
// timeouts: net/http clears the connection's deadlines when the upgrade
// hijacks it, and the signaling session bounds its join and its writes
// itself.
func newHTTPServer(h http.Handler, lim limits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.Header,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
	}
}

// mediaAddr is the address of the media socket: the host of the HTTP
// address (--addr) when it names one, so a server listening on 127.0.0.1
// does not take media from the whole network; all interfaces when it does
// not (":7880", "0.0.0.0:7880", "[::]:7880").
func mediaAddr(httpAddr string, udpPort int) string {
	port := strconv.Itoa(udpPort)
	host, _, err := net.SplitHostPort(httpAddr)
	if err != nil || host == "" {
		return ":" + port
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ":" + port
	}
	return net.JoinHostPort(host, port)
}
