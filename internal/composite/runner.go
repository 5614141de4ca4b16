package composite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/activity"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// partName is the fragmented MP4 being written; recordingName the final
// file, audioRecordingName an audio-only job's.
const (
	partName           = "composite.part.mp4"
	recordingName      = "composite.mp4"
	audioRecordingName = "composite.m4a"
	minRecording       = 4096 // bytes: less is headers without media
)

// audioSandbox is the display of an audio-only job that finds no warm
// sandbox: Chromium needs one, but nothing captures it.
var audioSandbox = roomcast.Resolution{Width: 640, Height: 360}

// Runner runs beam jobs: it implements control.Runner.
type Runner struct {
	WorkDir      string            // per-job scratch (display, audio, browser profile)
	Recordings   *recordings.Store // where recordings go
	Browser      BrowserOptions
	Destinations DestinationOptions
	Log          *slog.Logger
	// MaxDuration ends a job that has run this long; zero: only the job's
	// own maxDuration does (the defaults live in config).
	MaxDuration time.Duration
	// EmptyTimeout ends a job when the room has had no publishing peer for
	// this long; zero: an empty room does not end it.
	EmptyTimeout time.Duration
	// Keep, when set, takes each finalized recording (files indexed, still
	// processing) to its storage and marks it ready or upload_failed
	// (storage.Uploader.Upload). Unset, a recording is ready once finalized.
	Keep func(ctx context.Context, id string) error

	// NoPrewarm disables keeping a warm sandbox ready for the next job.
	NoPrewarm bool
	// MeetingApp is this server's meeting app, which a warm sandbox waits
	// on (standby.go); unset, it is learned from the jobs.
	MeetingApp MeetingApp

	// RoomActivity, when set, watches what a room's SFU receives, for the
	// live monitor (activity.NewWatch over NATS); unset, the monitor cannot
	// tell a quiet room from lost sound and says unknown.
	RoomActivity func(room string) (latest func() (activity.Report, bool), stop func(), err error)

	finalizing sync.WaitGroup
	ending     map[string]chan struct{} // job id → closed by Ended
	warmers    sync.WaitGroup           // preparing or releasing warm sandboxes
	warmCtx    context.Context          // ends with Close: a sandbox being prepared gives up
	stopWarm   context.CancelFunc       // ends warmCtx
	mu         sync.Mutex
	spare      *warm
	warming    bool
	closed     bool
	learnedApp *MeetingApp // the meeting app of the latest job that had this server's (noteApp)
}

// publishers counts the room's publishing peers as the beam page sees
// them; *Browser is one.
type publishers interface {
	Publishers(stop context.Context) int
}

// maxDuration is how long job may run: the runner's MaxDuration, or the
// job's own maxDuration when that is shorter; zero: no limit.
func (r *Runner) maxDuration(job jobs.Job) time.Duration {
	d := r.MaxDuration
	if own := time.Duration(job.Params.MaxDuration) * time.Second; own > 0 && (d == 0 || own < d) {
		d = own
	}
	return d
}

// limits ends the job on its own when the room stays empty or the job
// reaches maxDur (zero: neither ends it).
func (r *Runner) limits(ctx context.Context, br publishers, maxDur time.Duration, auto chan<- jobs.Outcome) {
	empty := r.EmptyTimeout
	var deadline <-chan time.Time
	if maxDur > 0 {
		t := time.NewTimer(maxDur)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var emptySince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			offer(ctx, auto, jobs.Stopped(fmt.Sprintf("reached the maximum duration of %v", maxDur)))
			return
		case now := <-tick.C:
			if empty == 0 || br.Publishers(ctx) != 0 {
				emptySince = time.Time{}
				continue
			}
			if emptySince.IsZero() {
				emptySince = now
			}
			if now.Sub(emptySince) >= empty {
				offer(ctx, auto, jobs.Stopped(fmt.Sprintf("the room had nobody publishing for %v", empty)))
				return
			}
		}
	}
}

// offer hands out to the job's end channel unless ctx ends first: the
// limits and the browser's watch share it, and the job takes the first.
func offer(ctx context.Context, ch chan<- jobs.Outcome, out jobs.Outcome) {
	select {
	case ch <- out:
	case <-ctx.Done():
	}
}

// Run runs job until ctx ends (a stop), it stops on its own or it fails.
//
// The encoder and the destinations start once the sandbox and its
// Chromium are there, while the page joins: the stream is let through
// from the first keyframe captured after the page has joined. Started one
// after the other, the join and the encoder's own start added up to
// ~1.5 s warm from the API call to the first picture at the ingest
// (docs/BENCHMARKS.md, "Start latency, overlapped"). (Started before
// Chromium, the encoder's start slowed Chromium's by ~0.5 s on 2 cores.)
func (r *Runner) Run(ctx context.Context, job jobs.Job, report func(jobs.Progress)) jobs.Outcome {
	log := r.Log.With("job", job)
	r.noteApp(job)
	res := audioSandbox
	if !job.Params.AudioOnly {
		res = *job.Params.Resolution
	}
	sb, br, err := r.sandbox(ctx, job, res, log)
	if err != nil {
		return failedUnlessStopped(ctx, err)
	}
	defer sb.Close()
	defer br.Close()
	oc := outputsConfig{encoder: EncoderConfig{Width: res.Width, Height: res.Height, AudioOnly: job.Params.AudioOnly}}
	o, err := r.startOutputs(ctx, sb, oc, job, report, log)
	if err != nil {
		return jobs.Failed(err)
	}
	page := job.Params.MeetingURL
	if job.Params.AudioOnly {
		page = audioOnlyPage(page)
		var waking sync.WaitGroup // while the page joins
		defer waking.Wait()
		waking.Go(func() { sb.wakeSink(ctx, "source-outputs") })
	}
	err = br.Join(ctx, page, job.URLs, log)
	joined := time.Now()
	if err != nil {
		o.close()
		return failedUnlessStopped(ctx, err)
	}
	// The watch and the limits end before the browser closes: a watch
	// relaunching Chromium after Close would leave it running.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	endWatch := func() { stopWatch(); watchers.Wait() }
	defer endWatch()
	auto := make(chan jobs.Outcome, 1)
	watchers.Go(func() { br.Watch(watchCtx, auto) })
	watchers.Go(func() { r.limits(watchCtx, br, r.maxDuration(job), auto) })

	var recID, recDir, recording string
	if job.Params.Record {
		recID, recDir, err = r.Recordings.Begin(job.Room, roomcast.RecordingKindComposite, time.Now().UTC())
		if err != nil {
			o.close()
			return jobs.Failed(rcerr.Wrap(rcerr.Unavailable, err, "could not create the recording"))
		}
		recording = filepath.Join(recDir, partName)
	}
	started := time.Now()
	r.begin(o, joined, recording, br.PlayoutSkew)
	out := o.wait(ctx, auto)
	o.close()
	endWatch() // before the recording can turn ready: the job ends first
	if recID != "" {
		// The job is over once the media stops; the recording is finalized
		// after it (the state says stopped first, then the recording turns
		// ready). A worker that dies meanwhile leaves it to Recover.
		log.Info("recording ended", "recording", recID, "ran", time.Since(started).Round(time.Millisecond))
		ended := r.awaitEnd(job.ID)
		r.finalizing.Add(1)
		go func() {
			defer r.finalizing.Done()
			r.finalize(recID, recDir, recordingFile(job.Params.AudioOnly), ended, log)
			r.Ended(job) // forgets it, had the worker not told
		}()
	}
	return out
}

// failedUnlessStopped is a start that did not get through: failed, or the
// zero Outcome when the job was stopped meanwhile.
func failedUnlessStopped(ctx context.Context, err error) jobs.Outcome {
	if ctx.Err() != nil {
		return jobs.Outcome{}
	}
	return jobs.Failed(err)
}

// sandbox gets the job a sandbox and its Chromium: the warm ones if
// ready, else new ones.
//
// An audio-only job runs in a sandbox of its own, set for sound alone: no
// silence keeping the sink awake (the sound's first second may come late;
// there is no picture to keep in sync) and 100 ms output buffers. It costs
// 0.065 cores where a warm sandbox's would cost 0.11 (docs/BENCHMARKS.md,
// "Audio-only jobs"), for ~2 s more to start; the warm one waits for the
// next job with a picture.
func (r *Runner) sandbox(ctx context.Context, job jobs.Job, res roomcast.Resolution, log *slog.Logger) (*Sandbox, *Browser, error) {
	audioOnly := job.Params.AudioOnly
	if w := r.warmFor(res, audioOnly); w != nil {
		log.Info("using a warm sandbox", "display", w.sb.Display)
		return w.sb, w.br, nil
	}
	t0 := time.Now()
	sb, err := startSandbox(ctx, filepath.Join(r.WorkDir, job.ID), res.Width, res.Height, !audioOnly, log)
	if err != nil {
		return nil, nil, rcerr.Wrap(rcerr.Unavailable, err, "could not start the virtual display and audio for the bot")
	}
	log.Info("sandbox ready", "display", sb.Display, "took", time.Since(t0).Round(time.Millisecond))
	bopts := r.Browser
	if audioOnly {
		bopts.AudioBufferFrames = 4800
	}
	br, err := LaunchBrowser(sb, res.Width, res.Height, bopts, log)
	if err != nil {
		sb.Close()
		return nil, nil, rcerr.Wrap(rcerr.Unavailable, err, "could not start Chromium")
	}
	return sb, br, nil
}

// audioOnlyPage is the meeting URL with audioOnly=1 added to its query:
// the meeting app's beam view then receives the room's sound only.
func audioOnlyPage(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // validated at the start; Join refuses it anyway
	}
	q := u.Query()
	q.Set("audioOnly", "1")
	u.RawQuery = q.Encode()
	return u.String()
}

// warmFor is the warm sandbox for a job at res, if one is ready and the
// job is not audio-only.
func (r *Runner) warmFor(res roomcast.Resolution, audioOnly bool) *warm {
	if audioOnly {
		return nil
	}
	return r.takeWarm(res)
}

// Wait waits for recordings still being finalized.
func (r *Runner) Wait() { r.finalizing.Wait() }

// endWait bounds how long a finalized recording waits for its job's end to
// be recorded (Ended) before it turns ready anyway.
const endWait = 10 * time.Second

// awaitEnd returns what closes when the end of job id is recorded.
func (r *Runner) awaitEnd(id string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ending == nil {
		r.ending = map[string]chan struct{}{}
	}
	c := make(chan struct{})
	r.ending[id] = c
	return c
}

// Ended is told by the worker once job's end is recorded: only then does
// its recording turn ready, so beam.stopped comes before recording.ready.
func (r *Runner) Ended(job jobs.Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.ending[job.ID]; ok {
		close(c)
		delete(r.ending, job.ID)
	}
}

// isInterrupt tells ffmpeg's normal exit on SIGINT (status 255) apart.
func isInterrupt(err error) bool {
	var ee interface{ ExitCode() int }
	return errors.As(err, &ee) && (ee.ExitCode() == 255 || ee.ExitCode() == -1)
}

// finalize turns the fragmented recording into a plain MP4 with the index
// at the front, lists it and hands it to Keep.
// With ended set, the recording is listed once it closes (or endWait).
// name is the final file's: recordingName, or audioRecordingName for a
// job without a picture.
func (r *Runner) finalize(id, dir, name string, ended <-chan struct{}, log *slog.Logger) error {
	part, out := filepath.Join(dir, partName), filepath.Join(dir, name)
	var dur time.Duration
	var err error
	switch fi, serr := os.Stat(part); {
	case serr == nil && fi.Size() >= minRecording:
		r.Recordings.SetStatus(id, roomcast.RecordingPhaseProcessing, "")
		dur, err = Finalize(part, out)
	case fileExists(out):
		// Remuxed before the worker died while storing it: only that is left.
		dur, err = Probe(out)
	default:
		// Stopped before any media reached the file: nothing to keep, and
		// no reason to fail the job for it.
		return r.Recordings.SetStatus(id, roomcast.RecordingPhaseFailed, "nothing was recorded: the job ended before media flowed")
	}
	if err != nil {
		log.Warn("finalize recording", "recording", id, "err", err)
		r.Recordings.SetStatus(id, roomcast.RecordingPhaseFailed, "could not finalize the recording: "+errText(err))
		return rcerr.Wrap(rcerr.Internal, err, "could not finalize the recording")
	}
	if name == recordingName {
		if err := writePoster(out, filepath.Join(dir, posterName), dur); err != nil {
			log.Warn("no poster for the recording", "recording", id, "err", err)
		}
	}
	if ended != nil {
		select {
		case <-ended:
		case <-time.After(endWait):
			log.Warn("the job's end was not recorded in time; the recording turns ready first", "recording", id)
		}
	}
	if r.Keep == nil {
		if err := r.Recordings.Finish(id, dur.Seconds()); err != nil {
			return fmt.Errorf("composite: list recording: %w", err)
		}
		return nil
	}
	if err := r.Recordings.Index(id, dur.Seconds()); err != nil {
		return fmt.Errorf("composite: list recording: %w", err)
	}
	return r.Keep(context.Background(), id)
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// recordingFile is the final file's name of a job's recording.
func recordingFile(audioOnly bool) string {
	if audioOnly {
		return audioRecordingName
	}
	return recordingName
}

// leftRecordingFile is the final file's name of a recording a dead worker
// left in dir, told by what is there: the final file already, or the
// fragmented one with or without a picture.
func leftRecordingFile(dir string) string {
	switch {
	case fileExists(filepath.Join(dir, recordingName)):
		return recordingName
	case fileExists(filepath.Join(dir, audioRecordingName)):
		return audioRecordingName
	}
	return recordingFile(!hasVideo(filepath.Join(dir, partName)))
}

// Recover finalizes recordings a dead worker left behind: the fragmented
// file plays up to its last complete fragment.
func (r *Runner) Recover() {
	os.RemoveAll(r.WorkDir) // scratch of jobs that died with the worker
	left, err := r.Recordings.Unfinished()
	if err != nil {
		r.Log.Warn("list unfinished recordings", "err", err)
		return
	}
	for _, rec := range left {
		if rec.Kind != roomcast.RecordingKindComposite {
			continue
		}
		dir, err := r.Recordings.Dir(rec.ID)
		if err != nil {
			continue
		}
		r.Log.Info("finalizing a recording left by a dead worker", "recording", rec.ID, "room", rec.Room)
		r.finalize(rec.ID, dir, leftRecordingFile(dir), nil, r.Log)
	}
}
