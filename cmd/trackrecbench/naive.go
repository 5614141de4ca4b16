package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/procstat"
	"github.com/roomcast/roomcast/internal/sfu"
)

// measureNaive is the common alternative the recorder is compared with: the
// SFU forwards each track as plain RTP over UDP to its own ffmpeg, which
// remuxes it (-c copy) to a file. Its cost is the ffmpeg processes' CPU
// (the sending side is left out, which flatters the baseline).
func measureNaive(m *media, n int, window time.Duration, dir string) (result, error) {
	tap := &udpTap{dir: dir}
	defer tap.stop()
	feeds := newFeeds(m, n, tap)
	if tap.err != nil {
		return result{}, tap.err
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { feeds.run(stop); close(done) }()
	time.Sleep(2 * time.Second) // warm-up: every ffmpeg listening and writing
	cpu0, t0 := tap.cpu(), time.Now()
	sent0 := feeds.sent.Load()
	time.Sleep(window)
	cpu1, t1 := tap.cpu(), time.Now()
	sent1 := feeds.sent.Load()
	close(stop)
	<-done
	return result{cpu: 100 * (cpu1 - cpu0).Seconds() / t1.Sub(t0).Seconds(),
		pps: float64(sent1-sent0) / t1.Sub(t0).Seconds()}, nil
}

// udpTap starts one ffmpeg per track and sends the track's RTP to it.
type udpTap struct {
	dir   string
	procs []*exec.Cmd
	err   error
}

func (u *udpTap) TrackPublished(info sfu.TrackInfo, _ func()) sfu.TrackSink {
	if u.err != nil {
		return discardSink{}
	}
	s, err := u.start(info)
	if err != nil {
		u.err = err
		return discardSink{}
	}
	return s
}

func (u *udpTap) start(info sfu.TrackInfo) (*udpSink, error) {
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	media, ext := "video 0 RTP/AVP 96\na=rtpmap:96 VP8/90000", "webm"
	if info.Kind == webrtc.RTPCodecTypeAudio {
		media, ext = "audio 0 RTP/AVP 111\na=rtpmap:111 opus/48000/2", "ogg"
	}
	media = strings.Replace(media, " 0 ", " "+strconv.Itoa(port)+" ", 1)
	sdp := filepath.Join(u.dir, info.ID+".sdp")
	body := "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=bench\nc=IN IP4 127.0.0.1\nt=0 0\nm=" + media + "\n"
	if err := os.WriteFile(sdp, []byte(body), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-protocol_whitelist", "file,udp,rtp",
		"-i", sdp, "-c", "copy", filepath.Join(u.dir, info.ID+"."+ext))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	u.procs = append(u.procs, cmd)
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return nil, err
	}
	return &udpSink{conn: conn}, nil
}

// cpu is the ffmpeg processes' CPU time so far, from /proc.
func (u *udpTap) cpu() time.Duration {
	var total time.Duration
	for _, c := range u.procs {
		if st, err := procstat.Read(c.Process.Pid); err == nil {
			total += st.CPU
		}
	}
	return total
}

func (u *udpTap) stop() {
	for _, c := range u.procs {
		c.Process.Signal(syscall.SIGINT)
	}
	for _, c := range u.procs {
		c.Wait()
	}
}

type udpSink struct{ conn *net.UDPConn }

func (s *udpSink) WriteRTP(p *rtp.Packet) {
	if b, err := p.Marshal(); err == nil {
		s.conn.Write(b)
	}
}

func (s *udpSink) SenderReport(time.Time, uint32) {}
func (s *udpSink) Close()                         { s.conn.Close() }
