// Command sfubench measures what the SFU costs per forwarded track: it runs
// `roomcast serve` as a child process, joins one publisher (synthetic VP8 at
// 1 Mbit/s + Opus) and N subscribers as pion clients, and reads the server's
// CPU time from /proc over a fixed window.
//
//	go run ./cmd/sfubench [--bin bin/roomcast] [--subscribers 1,5,20] [--window 10s]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/procstat"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/rtcclient"
)

const secret = "sfubench-secret-0123456789"

func main() {
	bin := flag.String("bin", "bin/roomcast", "roomcast binary")
	subs := flag.String("subscribers", "1,5,20", "subscriber counts to measure")
	window := flag.Duration("window", 10*time.Second, "measurement window per count")
	warmup := flag.Duration("warmup", 3*time.Second, "warm-up before each window")
	bitrate := flag.Int("video-bitrate", 1_000_000, "publisher video bitrate, bit/s")
	flag.Parse()
	if err := run(*bin, *subs, *window, *warmup, *bitrate); err != nil {
		fmt.Fprintln(os.Stderr, "sfubench:", err)
		os.Exit(1)
	}
}

func run(bin, subs string, window, warmup time.Duration, bitrate int) error {
	fmt.Printf("SFU forwarding cost: 1 publisher (VP8 %d kbit/s + Opus), N subscribers; server CPU over %v\n", bitrate/1000, window)
	fmt.Println("Marginal cost = (CPU with N subscribers - CPU with none) / forwarded tracks.")
	fmt.Println()
	base, err := measure(bin, 0, window, warmup, bitrate)
	if err != nil {
		return err
	}
	fmt.Println("| subscribers | forwarded tracks | server CPU (% of a core) | marginal CPU per forwarded track (% of a core) | packets delivered/s |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| 0 (publisher only) | 0 | %.1f | - | 0 |\n", base.cpu)
	for _, f := range strings.Split(subs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--subscribers: %q is not a positive count", f)
		}
		r, err := measure(bin, n, window, warmup, bitrate)
		if err != nil {
			return err
		}
		tracks := 2 * n
		fmt.Printf("| %d | %d | %.1f | %.3f | %.0f |\n", n, tracks, r.cpu, (r.cpu-base.cpu)/float64(tracks), r.pps)
	}
	return nil
}

type result struct{ cpu, pps float64 }

// measure runs one server with one publisher and n subscribers.
func measure(bin string, n int, window, warmup time.Duration, bitrate int) (result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, addr, err := startServer(bin)
	if err != nil {
		return result{}, err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	signer, _ := auth.NewSigner([]byte(secret))
	dial := func(id string, role room.Role, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*rtcclient.Client, error) {
		tok, _ := signer.JoinToken("bench", id, role, time.Hour)
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		return rtcclient.Dial(dctx, rtcclient.Options{URL: "ws://" + addr + "/rtc", Room: "bench", Token: tok, OnTrack: onTrack})
	}
	var packets atomic.Int64
	count := func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			packets.Add(1)
		}
	}
	for i := range n {
		c, err := dial(fmt.Sprintf("sub-%d", i), room.Viewer, count)
		if err != nil {
			return result{}, err
		}
		defer c.Close()
	}
	pub, err := dial("pub", room.Host, nil)
	if err != nil {
		return result{}, err
	}
	defer pub.Close()
	done, err := rtcclient.PublishSynthetic(ctx, pub, rtcclient.Synthetic{VideoBitrate: bitrate})
	if err != nil {
		return result{}, err
	}
	defer func() { cancel(); <-done }()
	time.Sleep(warmup) // let every subscriber connect and traffic settle
	cpu0, p0, t0 := cpuTime(srv.Process.Pid), packets.Load(), time.Now()
	time.Sleep(window)
	cpu1, p1, t1 := cpuTime(srv.Process.Pid), packets.Load(), time.Now()
	el := t1.Sub(t0).Seconds()
	return result{cpu: 100 * (cpu1 - cpu0) / el, pps: float64(p1-p0) / el}, nil
}

// startServer runs roomcast serve on free ports and returns its HTTP address.
func startServer(bin string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--rtc-udp-port", "0",
		"--data", os.TempDir()+"/sfubench-data", "--log-format", "json", "--log-level", "info")
	cmd.Env = append(os.Environ(), auth.SecretEnv+"="+secret)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr, err := listeningAddr(stderr)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", err
	}
	return cmd, addr, nil
}

// listeningAddr reads the server log until it says where it listens, then
// keeps draining the log in the background.
func listeningAddr(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
			go io.Copy(io.Discard, r)
			return rec.Addr, nil
		}
	}
	return "", fmt.Errorf("server exited before listening")
}

// cpuTime returns the user+system CPU seconds of pid (0 once it is gone).
func cpuTime(pid int) float64 {
	st, _ := procstat.Read(pid)
	return st.CPU.Seconds()
}
