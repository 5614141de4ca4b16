package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// benchRoom is where the publisher sits and every job runs.
const benchRoom = "bench"

// bench is one server, one nginx and one publisher, measured job by job.
type bench struct {
	ctx   context.Context
	o     options
	kids  *children
	srv   *server
	rtmp  string // nginx host:port
	hooks *hooks
	api   *roomcast.Client
	pub   *publisher
	jobs  int
}

func (b *bench) url(key string) string { return "rtmp://" + b.rtmp + "/live/" + key }

// keys returns n fresh stream keys for the next job.
func (b *bench) keys(n int) []string {
	b.jobs++
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("job%d-dest%d", b.jobs, i+1)
	}
	return out
}

func (b *bench) params(w, h int, keys []string, record bool) roomcast.StartParams {
	p := roomcast.StartParams{Record: record, Resolution: &roomcast.Resolution{Width: w, Height: h}}
	for _, k := range keys {
		p.RTMPURLs = append(p.RTMPURLs, b.url(k))
	}
	return p
}

// waitState polls the room's state every 50 ms until cond holds; a failed
// stream or recording ends the wait with its error.
func (b *bench) waitState(timeout time.Duration, what string, cond func(roomcast.BeamState) bool) (roomcast.BeamState, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := b.api.BeamState(b.ctx, benchRoom)
		if err == nil && cond(st) {
			return st, nil
		}
		if err == nil && st.RTMP.State == roomcast.StreamingStateFailed {
			return st, fmt.Errorf("waiting for %s: streaming failed: %+v", what, st.RTMP.Error)
		}
		if err == nil && st.Recording.Browser.State == roomcast.RecordingStateFailed {
			return st, fmt.Errorf("waiting for %s: recording failed: %+v", what, st.Recording.Browser.Error)
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("timed out after %v waiting for %s; state %+v (err %v)", timeout, what, st, err)
		}
		if err := sleep(b.ctx, 50*time.Millisecond); err != nil {
			return st, err
		}
	}
}

func streaming(st roomcast.BeamState) bool { return st.RTMP.State == roomcast.StreamingStateStarted }

func allDestinations(st roomcast.BeamState) bool {
	for _, d := range st.RTMP.Destinations {
		if d.State != roomcast.DestinationStarted {
			return false
		}
	}
	return streaming(st) && len(st.RTMP.Destinations) > 0
}

func recording(st roomcast.BeamState) bool {
	return st.Recording.Browser.State == roomcast.RecordingStateStarted
}

// stop stops the room's job and waits until the worker has torn it down:
// the state says stopped at once, the sandbox's processes end a bit later.
func (b *bench) stop() error {
	if _, err := b.api.StopRTMPAndRecording(b.ctx, benchRoom); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if _, err := b.waitState(30*time.Second, "stopped", func(st roomcast.BeamState) bool {
		return !st.RTMP.Running && !st.Recording.Browser.Running
	}); err != nil {
		return err
	}
	return b.waitIdle()
}

// waitIdle waits until the server has no child processes left (with
// --prewarm: until a warm sandbox is ready and its processes have settled).
func (b *bench) waitIdle() error {
	deadline := time.Now().Add(30 * time.Second)
	if b.o.prewarm {
		return b.waitWarm(deadline)
	}
	for {
		left := 0
		for _, p := range tree(b.srv.Pid()) {
			if p.pid != b.srv.Pid() {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server still has %d child processes 30 s after the stop", left)
		}
		if err := sleep(b.ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func (b *bench) waitWarm(deadline time.Time) error {
	for b.srv.event("warm sandbox ready", time.Time{}).IsZero() {
		if time.Now().After(deadline) {
			return fmt.Errorf("no warm sandbox 30 s after the stop")
		}
		if err := sleep(b.ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return sleep(b.ctx, 2*time.Second) // let its start-up CPU settle
}

// latencyRun is one start, every time since the API call.
type latencyRun struct {
	claimed, xvfb, chromium, loading, joined, flowing, started, onPublish, video, audio time.Duration
}

// latency starts a 1280x720 job with one destination, notes when each step
// happened, and stops it.
func (b *bench) latency() (latencyRun, error) {
	key := b.keys(1)[0]
	pl := play(b.ctx, b.rtmp, key) // waiting on nginx before the publisher comes
	defer pl.close()
	if err := sleep(b.ctx, 300*time.Millisecond); err != nil {
		return latencyRun{}, err
	}
	t0 := time.Now()
	since := func(t time.Time) time.Duration {
		if t.IsZero() {
			return -1
		}
		return t.Sub(t0)
	}
	stopWatch, spawned := make(chan struct{}), make(chan map[string]time.Time, 1)
	go func() { spawned <- spawns(b.srv.Pid(), stopWatch) }()
	defer func() {
		if stopWatch != nil {
			close(stopWatch)
		}
	}()
	size := b.o.latencySize
	params := b.params(size.Width, size.Height, []string{key}, false)
	if b.o.latencyAudio {
		params.AudioOnly, params.Resolution = true, nil
	}
	if _, err := b.api.StartRTMPOrRecording(b.ctx, benchRoom, params); err != nil {
		return latencyRun{}, fmt.Errorf("start: %w", err)
	}
	var r latencyRun
	if _, err := b.waitState(60*time.Second, "state started", streaming); err != nil {
		return r, err
	}
	r.started = time.Since(t0)
	on, err := b.hooks.published(b.ctx, key, t0, 30*time.Second)
	if err != nil {
		return r, err
	}
	r.onPublish = since(on)
	video, audio := pl.wait(b.ctx, 20*time.Second, !b.o.latencyAudio)
	r.video, r.audio = since(video), since(audio)
	r.joined = since(b.srv.event("beam page joined", t0))
	r.flowing = since(b.srv.event("media flowing", t0))
	close(stopWatch)
	stopWatch = nil
	first := <-spawned
	r.xvfb, r.chromium = since(first["Xvfb"]), since(first["chromium"])
	r.claimed = since(b.srv.event("job started", t0))
	r.loading = since(b.srv.event("page load began", t0))
	if err := sleep(b.ctx, time.Second); err != nil {
		return r, err
	}
	return r, b.stop()
}

// cpuRow is one CPU measurement.
type cpuRow struct {
	name    string
	u       usage
	byName  usage   // the same by executable
	machine float64 // the whole machine, all cores
	fps     float64 // lowest video frame rate nginx relayed among the streams
	note    string
}

// cpu runs one w x h job with dests destinations (plus extra ffmpeg
// encoders of the same display and sink started by the tool, the naive
// baseline) and measures CPU over the window after the warm-up.
func (b *bench) cpu(name string, w, h, dests, extra int) (cpuRow, error) {
	row := cpuRow{name: name}
	keys := b.keys(dests + extra)
	var players []*player
	defer func() {
		for _, p := range players {
			p.close()
		}
	}()
	for _, k := range keys {
		players = append(players, play(b.ctx, b.rtmp, k))
	}
	t0 := time.Now()
	if _, err := b.api.StartRTMPOrRecording(b.ctx, benchRoom, b.params(w, h, keys[:dests], false)); err != nil {
		return row, fmt.Errorf("start: %w", err)
	}
	if _, err := b.waitState(60*time.Second, "every destination started", allDestinations); err != nil {
		return row, err
	}
	var extras []*child
	defer func() {
		for _, c := range extras {
			b.kids.stop(c, syscall.SIGINT, 5*time.Second)
		}
	}()
	if extra > 0 {
		display, env, err := encoderEnv(b.srv.Pid())
		if err != nil {
			return row, err
		}
		for _, k := range keys[dests:] {
			args := composite.EncoderArgs(display, composite.EncoderConfig{Width: w, Height: h})
			// The MPEG-TS output and its options become FLV to the ingest
			// (was: -f tee <outputs>).
			args = append(args[:slices.Index(args, "mpegts")-1], "-f", "flv", b.url(k))
			cmd := exec.Command("ffmpeg", args...)
			cmd.Env, cmd.Stderr = env, os.Stderr
			c, err := b.kids.start(cmd)
			if err != nil {
				return row, fmt.Errorf("start extra ffmpeg: %w", err)
			}
			extras = append(extras, c)
			if _, err := b.hooks.published(b.ctx, k, t0, 20*time.Second); err != nil {
				return row, err
			}
		}
	}
	if err := sleep(b.ctx, b.o.warmup); err != nil {
		return row, err
	}
	roots := map[string][]int{"server": {b.srv.Pid()}, "publisher": {b.pub.pid}}
	for _, c := range extras {
		roots["extra"] = append(roots["extra"], c.cmd.Process.Pid)
	}
	f0 := make([]int64, len(players))
	for i, p := range players {
		f0[i] = p.frames.Load()
	}
	w0 := time.Now()
	u, byName, machine, err := measureCPU(b.ctx, b.o.window, roots)
	if err != nil {
		return row, err
	}
	el := time.Since(w0).Seconds()
	row.u, row.byName, row.machine, row.fps = u, byName, machine, -1
	for i, p := range players {
		fps := float64(p.frames.Load()-f0[i]) / el
		if row.fps < 0 || fps < row.fps {
			row.fps = fps
		}
	}
	if w := b.srv.warned(w0); w != "" {
		row.note = "server warnings in the window: " + w
	}
	st, err := b.api.BeamState(b.ctx, benchRoom)
	if err == nil && !allDestinations(st) {
		row.note = strings.TrimSpace(fmt.Sprintf("%s not every destination was up at the end: %+v", row.note, st.RTMP.Destinations))
	}
	for _, c := range extras {
		if c.exited() {
			row.note = strings.TrimSpace(fmt.Sprintf("%s an extra encoder exited early: %v", row.note, c.err))
		}
	}
	for _, c := range extras {
		b.kids.stop(c, syscall.SIGINT, 5*time.Second)
	}
	extras = nil
	return row, b.stop()
}

// encoderEnv finds the job's ffmpeg under the server and returns its
// DISPLAY and whole environment (PULSE_SERVER, HOME, XDG_RUNTIME_DIR...).
func encoderEnv(serverPid int) (string, []string, error) {
	for _, p := range tree(serverPid) {
		if p.group != "ffmpeg" {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
		if err != nil {
			return "", nil, err
		}
		var env []string
		var display string
		for _, kv := range strings.Split(string(raw), "\x00") {
			if kv == "" {
				continue
			}
			env = append(env, kv)
			if v, ok := strings.CutPrefix(kv, "DISPLAY="); ok {
				display = v
			}
		}
		if display == "" {
			return "", nil, errors.New("the job's ffmpeg has no DISPLAY")
		}
		return display, env, nil
	}
	return "", nil, errors.New("no ffmpeg under the server: is the job running?")
}

// recordRun is one stop of a recording job.
type recordRun struct {
	ran, stopCall, ready time.Duration
	length               float64 // seconds, as listed
	size                 int64
}

// record runs a record-only 1280x720 job for o.recordFor, stops it and
// polls the recordings list every 50 ms until it is ready.
func (b *bench) record() (recordRun, error) {
	var r recordRun
	old := map[string]bool{}
	recs, err := b.api.Recordings(b.ctx, benchRoom)
	if err != nil {
		return r, err
	}
	for _, rec := range recs {
		old[rec.ID] = true
	}
	if _, err := b.api.StartRTMPOrRecording(b.ctx, benchRoom, b.params(1280, 720, nil, true)); err != nil {
		return r, fmt.Errorf("start: %w", err)
	}
	if _, err := b.waitState(60*time.Second, "recording started", recording); err != nil {
		return r, err
	}
	started := time.Now()
	if err := sleep(b.ctx, b.o.recordFor); err != nil {
		return r, err
	}
	t0 := time.Now()
	r.ran = t0.Sub(started)
	if _, err := b.api.StopRTMPAndRecording(b.ctx, benchRoom); err != nil {
		return r, fmt.Errorf("stop: %w", err)
	}
	r.stopCall = time.Since(t0)
	for deadline := t0.Add(60 * time.Second); ; {
		recs, err := b.api.Recordings(b.ctx, benchRoom)
		if err == nil {
			for _, rec := range recs {
				if old[rec.ID] {
					continue
				}
				switch rec.Status {
				case "ready":
					r.ready, r.length, r.size = time.Since(t0), rec.Duration, rec.Size
					return r, b.waitIdle()
				case "failed":
					return r, fmt.Errorf("recording %s failed: %s", rec.ID, rec.Error)
				}
			}
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("no ready recording 60 s after the stop (err %v)", err)
		}
		if err := sleep(b.ctx, 50*time.Millisecond); err != nil {
			return r, err
		}
	}
}
