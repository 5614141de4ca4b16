package urlpolicy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// Proxy is the HTTP proxy the bot's browser must use for every connection
// (pages, frames, scripts, WebSockets, workers): it dials only what its
// policy allows, to the addresses the policy checked, so a redirect, a
// frame, or a name that re-resolves to an internal address gets nowhere.
// Until SetPolicy it refuses everything: a browser left without a policy
// loads nothing.
type Proxy struct {
	ln  net.Listener
	srv *http.Server
	rp  *httputil.ReverseProxy
	log *slog.Logger

	mu    sync.Mutex
	pol   *Policy
	conns map[net.Conn]struct{} // both ends of open tunnels
	wg    sync.WaitGroup        // Serve and the tunnels
}

// StartProxy listens on a loopback port and serves until Close.
func StartProxy(log *slog.Logger) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("urlpolicy: proxy listen: %w", err)
	}
	p := &Proxy{ln: ln, log: log, conns: map[net.Conn]struct{}{}}
	tr := &http.Transport{DialContext: p.dial, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      func(r *httputil.ProxyRequest) { r.Out.URL = r.In.URL; r.Out.Host = r.In.Host },
		Transport:    tr,
		ErrorHandler: p.refused,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	p.wg.Go(func() { p.srv.Serve(ln) })
	return p, nil
}

// URL is the proxy's address for the browser's --proxy-server.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// SetPolicy sets what the browser may reach from now on.
func (p *Proxy) SetPolicy(pol Policy) {
	p.mu.Lock()
	p.pol = &pol
	p.mu.Unlock()
}

// Policy is what the browser may reach now; nil before SetPolicy.
func (p *Proxy) Policy() *Policy {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pol
}

// Close stops serving and ends open tunnels.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track adds a tunnel's connections to what Close ends, or refuses them
// when the proxy is closing.
func (p *Proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		http.Error(w, "roomcast: this proxy serves the bot's browser only", http.StatusBadRequest)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// tunnel serves CONNECT (https, wss, and ws through a proxy).
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	up, err := p.dial(r.Context(), "tcp", r.Host)
	if err != nil {
		p.refused(w, r, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "roomcast: cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	down.SetDeadline(time.Time{})
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		up.Close()
		down.Close()
		return
	}
	p.track(up, down)
	p.wg.Go(func() {
		defer p.untrack(up, down)
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(up, buf) // what the client sent after CONNECT, then the rest
			if cw, ok := up.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
		io.Copy(down, up)
		down.Close() // unblocks the copy above if the client is still sending
		<-done
	})
}

// dial connects to addr ("host:port") if the policy allows it, to one of
// the addresses the policy checked.
func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	pol := p.Policy()
	if pol == nil {
		return nil, &Refusal{Reason: "the bot has no URL policy yet"}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &Refusal{Reason: fmt.Sprintf("%q is not host:port", addr)}
	}
	addrs, err := pol.CheckHost(ctx, host, port)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	if addrs == nil { // one of the server's own origins
		return d.DialContext(ctx, "tcp", addr)
	}
	var last error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// refused answers a request the policy refused (403) or could not reach
// (502), and logs it.
func (p *Proxy) refused(w http.ResponseWriter, r *http.Request, err error) {
	var ref *Refusal
	if errors.As(err, &ref) {
		// Info, not Warn: Chromium's own calls home end here too. A page's
		// refused navigation is reported (and fails the job) by the guard.
		p.log.Info("the bot's browser tried to reach a refused host", "host", r.Host, "reason", ref.Reason)
		http.Error(w, "roomcast: refused by the URL policy: "+ref.Reason, http.StatusForbidden)
		return
	}
	p.log.Debug("proxy: upstream", "host", r.Host, "err", err)
	http.Error(w, "roomcast: could not reach "+r.Host, http.StatusBadGateway)
}
