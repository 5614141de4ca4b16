package testkit

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
)

// GoRTMP is an RTMP server built on gortmplib's server side (the code
// mediamtx serves RTMP with): a third implementation besides nginx-rtmp and
// ffmpeg. It relays each publish (H.264 + AAC) to players of the same path,
// so ffprobe can read what arrived, and keeps the URL each publish asked
// for.
type GoRTMP struct {
	Port int

	mu        sync.Mutex
	ln        net.Listener
	streams   map[string]*relay
	published []*url.URL
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

type relay struct {
	tracks  []*gortmplib.Track
	players []*gortmplib.Writer
}

// StartGoRTMP listens on a free port until the test ends.
func StartGoRTMP(t testing.TB) *GoRTMP {
	t.Helper()
	s := &GoRTMP{Port: FreePort(t)}
	s.Start(t)
	t.Cleanup(s.Kill)
	return s
}

// Start (re)starts listening on the same port.
func (s *GoRTMP) Start(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.ln, s.streams, s.conns = ln, map[string]*relay{}, map[net.Conn]struct{}{}
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() { s.serve(c) })
		}
	})
}

// Kill stops listening and drops every connection, as a crash would.
func (s *GoRTMP) Kill() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Addr is host:port.
func (s *GoRTMP) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the publish/play URL for key on the live app.
func (s *GoRTMP) URL(key string) string { return "rtmp://" + s.Addr() + "/live/" + key }

// Published is the URL of every publish so far (path = /app/key, with
// the query the key carried).
func (s *GoRTMP) Published() []*url.URL {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*url.URL(nil), s.published...)
}

func (s *GoRTMP) serve(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	sc := &gortmplib.ServerConn{RW: c}
	if sc.Initialize() != nil || sc.AcceptConn() != nil {
		return
	}
	if sc.Publish {
		s.publish(c, sc)
	} else {
		s.play(c, sc)
	}
}

func (s *GoRTMP) publish(c net.Conn, sc *gortmplib.ServerConn) error {
	s.mu.Lock()
	s.published = append(s.published, sc.URL)
	s.mu.Unlock()
	r := &gortmplib.Reader{Conn: sc}
	if err := r.Initialize(); err != nil {
		return err
	}
	rl := &relay{tracks: r.Tracks()}
	path := sc.URL.Path
	s.mu.Lock()
	s.streams[path] = rl
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, path)
		for _, p := range rl.players {
			p.Conn.(*gortmplib.ServerConn).RW.(net.Conn).Close()
		}
		s.mu.Unlock()
	}()
	for _, tr := range rl.tracks {
		switch tr.Codec.(type) {
		case *codecs.H264:
			r.OnDataH264(tr, func(pts, dts time.Duration, au [][]byte) {
				s.each(rl, func(w *gortmplib.Writer) { w.WriteH264(tr, pts, dts, au) })
			})
		case *codecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(pts time.Duration, au []byte) {
				s.each(rl, func(w *gortmplib.Writer) { w.WriteMPEG4Audio(tr, pts, au) })
			})
		}
	}
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := r.Read(); err != nil {
			return err
		}
	}
}

func (s *GoRTMP) each(rl *relay, f func(*gortmplib.Writer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range rl.players {
		f(w)
	}
}

func (s *GoRTMP) play(c net.Conn, sc *gortmplib.ServerConn) error {
	s.mu.Lock()
	rl := s.streams[sc.URL.Path]
	if rl == nil {
		s.mu.Unlock()
		return errors.New("nothing is published there")
	}
	w := &gortmplib.Writer{Conn: sc, Tracks: rl.tracks}
	if err := w.Initialize(); err != nil {
		s.mu.Unlock()
		return err
	}
	rl.players = append(rl.players, w)
	s.mu.Unlock()
	c.SetReadDeadline(time.Time{})
	buf := make([]byte, 1024)
	for {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
}
