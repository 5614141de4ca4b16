// Command beambench measures the beam worker (internal/composite) end to
// end: it runs `roomcast serve` as a child on free ports with its own data
// dir, nginx-rtmp as the ingest, and a headless Chromium that joins the room
// as host with a fake camera and mic; then it starts beam jobs through the
// Go SDK and measures, in one run, so that ratios compare like with like:
//
//  1. start latency: from the API call (Go SDK StartRTMPOrRecording) to
//     nginx's on_publish callback, answered by an HTTP server in this tool
//     (nginx accepted the publish; the worker connects once the encoder's
//     first keyframe is known and sends its stream headers right after, so
//     this is the first packet at nginx), and to the first video and audio
//     frames nginx relays to an RTMP player connected beforehand; with the
//     steps in between (worker claimed the job, Xvfb and Chromium spawned,
//     page load began and page joined, first encoded frame: from the
//     server's log and /proc) and state `started`. Run 1 is the server's
//     first job (cold);
//  2. CPU at 1280x720 of 1 vs 3 destinations (one encode, Go fan-out) and of
//     the naive baseline (1 destination plus 2 more ffmpeg encoders of the
//     same display and sink started by the tool, built from
//     composite.EncoderArgs, pushing FLV);
//  3. CPU per job at 640x360 and 1280x720 with 1 destination;
//  4. stop → recording listed ready, for a record-only job.
//
// CPU is user+system time from /proc/<pid>/stat of every process whose
// ancestor chain reaches the server (sampled every 250 ms over the window,
// after the warm-up), split into Chromium, ffmpeg, Xvfb, PulseAudio
// (pulseaudio + pacat) and roomcast itself (API, SFU and the Go RTMP
// fan-out), in % of one core. The publisher's Chromium is outside that tree
// and reported apart. Every child is killed by pid on exit, also on error or
// Ctrl-C. Tables are printed as markdown on stdout, progress on stderr.
//
// Usage (build the server first):
//
//	go build -o bin/roomcast ./cmd/roomcast
//	go run ./cmd/beambench [--bin bin/roomcast] [--window 20s] [--warmup 5s]
//	    [--latency-runs 3] [--record-runs 2] [--record-for 8s]
//	    [--only latency,fanout,resolution,stop] [--prewarm] [--latency-size 1280x720]
//
// A quick run: --window 5s --warmup 2s --latency-runs 1 --record-runs 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// secret is the server's ROOMCAST_SECRET, so the tool mints its own tokens.
const secret = "beambench-secret-0123456789abcdef"

type options struct {
	bin            string
	window, warmup time.Duration
	latencyRuns    int
	recordRuns     int
	recordFor      time.Duration
	only           []string
	keepTemp       bool
	prewarm        bool
	latencySize    roomcast.Resolution // of the latency runs' jobs
	latencyAudio   bool                // the latency runs' jobs are audio-only
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/roomcast", "roomcast binary")
	flag.DurationVar(&o.window, "window", 20*time.Second, "CPU measurement window")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "wait after a job is up before measuring CPU")
	flag.BoolVar(&o.prewarm, "prewarm", false, "run the server with --prewarm (a warm sandbox waits for each job; CPU tables then include its idle cost)")
	flag.IntVar(&o.latencyRuns, "latency-runs", 3, "starts measured for latency (the first is cold)")
	flag.IntVar(&o.recordRuns, "record-runs", 2, "record-only jobs measured for stop → recording listed")
	flag.DurationVar(&o.recordFor, "record-for", 8*time.Second, "how long each recording job runs")
	only := flag.String("only", "latency,fanout,resolution,stop", "measurements to run")
	size := flag.String("latency-size", "1280x720", "output size WxH of the latency runs' jobs, or \"audio\" for audio-only jobs")
	flag.BoolVar(&o.keepTemp, "keep", false, "keep the temp dir (server log, data, nginx log)")
	flag.Parse()
	for _, m := range strings.Split(*only, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains([]string{"latency", "fanout", "resolution", "stop"}, m) {
			fmt.Fprintf(os.Stderr, "beambench: --only: unknown measurement %q\n", m)
			os.Exit(2)
		}
		o.only = append(o.only, m)
	}
	if *size == "audio" {
		o.latencyAudio = true
	} else if _, err := fmt.Sscanf(*size, "%dx%d", &o.latencySize.Width, &o.latencySize.Height); err != nil {
		fmt.Fprintf(os.Stderr, "beambench: --latency-size %q: want WxH\n", *size)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "beambench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) (err error) {
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("%w (build it: go build -o bin/roomcast ./cmd/roomcast)", err)
	}
	dir, err := os.MkdirTemp("", "beambench-")
	if err != nil {
		return err
	}
	kids := &children{}
	b := &bench{ctx: ctx, o: o, kids: kids}
	defer func() {
		if b.pub != nil {
			b.pub.close()
		}
		kids.stopAll() // the server first (its jobs' processes die with it), then nginx
		if err != nil || o.keepTemp {
			fmt.Fprintf(os.Stderr, "beambench: logs kept in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	if b.hooks, err = startHooks(); err != nil {
		return err
	}
	if b.rtmp, err = startNginx(ctx, kids, dir, b.hooks.addr); err != nil {
		return err
	}
	if b.srv, err = startServer(ctx, kids, o.bin, dir, o.prewarm); err != nil {
		return err
	}
	progress("roomcast serve at %s (pid %d), nginx-rtmp at %s", b.srv.URL, b.srv.Pid(), b.rtmp)
	signer, err := auth.NewSigner([]byte(secret))
	if err != nil {
		return err
	}
	mgmt, _ := signer.ManagementToken(24 * time.Hour)
	host, err := signer.JoinToken(benchRoom, "presenter", room.Host, 24*time.Hour)
	if err != nil {
		return err
	}
	b.api = roomcast.NewClient(b.srv.URL, mgmt)
	if b.pub, err = startPublisher(b.srv.URL + "/meet/" + benchRoom + "?token=" + url.QueryEscape(host)); err != nil {
		return err
	}
	progress("publisher joined %q (chromium pid %d)", benchRoom, b.pub.pid)
	fmt.Printf("beambench %s, %d CPUs, window %v after %v warm-up\n\n", time.Now().Format("2006-01-02 15:04"), runtime.NumCPU(), o.window, o.warmup)
	for _, m := range o.only {
		switch m {
		case "latency":
			err = b.runLatency()
		case "fanout":
			err = b.runFanout()
		case "resolution":
			err = b.runResolution()
		case "stop":
			err = b.runRecord()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}
