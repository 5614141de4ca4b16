package storage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Uploader defaults.
const (
	defaultAttempts      = 3
	defaultBackoff       = 2 * time.Second
	defaultRetryEvery    = 30 * time.Second
	defaultMaxRetryDelay = 10 * time.Minute
)

// Uploader takes finished recordings from the local index to a Store: on
// success the recording is ready with its location and its local media
// files are removed (recording.json stays, so it is still listed); on
// failure its files stay, it is upload_failed with the reason, and Run
// tries again later.
type Uploader struct {
	recs    *recordings.Store
	store   Store
	onReady func(roomcast.Recording)
	log     *slog.Logger

	// Attempts is how many times Upload tries before upload_failed
	// (default 3); Backoff the wait after the first failed try, doubled
	// after each (default 2 s).
	Attempts int
	Backoff  time.Duration
	// RetryEvery is how often Run looks for upload_failed recordings
	// (default 30 s); a recording that fails again waits twice as long
	// each time, up to MaxRetryDelay (default 10 min).
	RetryEvery    time.Duration
	MaxRetryDelay time.Duration

	mu       sync.Mutex
	inFlight map[string]bool
	retries  map[string]retry
}

// retry is when Run next tries a recording, and how long it waited last.
type retry struct {
	at    time.Time
	delay time.Duration
}

// NewUploader returns an Uploader from recs to store; onReady (optional)
// is told about each recording once it is ready.
func NewUploader(recs *recordings.Store, store Store, onReady func(roomcast.Recording), log *slog.Logger) *Uploader {
	return &Uploader{recs: recs, store: store, onReady: onReady, log: log,
		inFlight: map[string]bool{}, retries: map[string]retry{}}
}

// Upload stores the finished recording id (its files indexed): ready, or
// upload_failed after Attempts tries. Failures are logged here; the error
// is for callers that want to know.
func (u *Uploader) Upload(ctx context.Context, id string) error {
	attempts := u.Attempts
	if attempts <= 0 {
		attempts = defaultAttempts
	}
	return u.upload(ctx, id, attempts)
}

func (u *Uploader) upload(ctx context.Context, id string, attempts int) error {
	if !u.claim(id) {
		return nil // another upload of it is under way
	}
	defer u.release(id)
	rec, err := u.recs.Get(id)
	if err != nil {
		return err
	}
	dir, err := u.recs.Dir(id)
	if err != nil {
		return err
	}
	log := u.log.With("recording", id, "room", rec.Room)
	if rec.Status != roomcast.RecordingPhaseProcessing {
		if err := u.recs.SetStatus(id, roomcast.RecordingPhaseProcessing, ""); err != nil {
			return err
		}
	}
	loc, err := u.put(ctx, rec, dir, attempts, log)
	if err != nil {
		UploadFailures.Add(1)
		log.Warn("recording upload failed; its files stay on disk and it is retried later", "tries", attempts, "err", err)
		reason := "upload to storage failed (retried automatically): " + logging.Redact(err.Error())
		if serr := u.recs.SetStatus(id, roomcast.RecordingPhaseUploadFailed, reason); serr != nil {
			log.Error("mark recording upload_failed", "err", serr)
		}
		return err
	}
	if rec, err = u.recs.Stored(id, loc); err != nil {
		return err // still processing: recovered at the next start
	}
	if loc != "" {
		UploadedBytes.Add(uint64(rec.Size))
	}
	if loc != "" {
		if err := u.recs.RemoveMedia(id); err != nil {
			log.Warn("remove local copy of an uploaded recording", "err", err)
		}
	}
	log.Info("recording ready", "location", loc, "size", rec.Size)
	if u.onReady != nil {
		u.onReady(rec)
	}
	return nil
}

// Counters of this process's uploads to object storage, for /metrics.
var (
	UploadedBytes  atomic.Uint64 // recordings' bytes uploaded
	UploadFailures atomic.Uint64 // uploads that gave up (upload_failed; retried later)
)

// put tries store.Put up to attempts times with doubling backoff.
func (u *Uploader) put(ctx context.Context, rec roomcast.Recording, dir string, attempts int, log *slog.Logger) (string, error) {
	wait := u.Backoff
	if wait == 0 {
		wait = defaultBackoff
	}
	for try := 1; ; try++ {
		t0 := time.Now()
		loc, err := u.store.Put(ctx, rec, dir)
		if err == nil {
			log.Debug("recording uploaded", "try", try, "took", time.Since(t0).Round(time.Millisecond))
			return loc, nil
		}
		if try >= attempts || ctx.Err() != nil {
			return "", err
		}
		log.Info("recording upload failed; trying again", "try", try, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (u *Uploader) claim(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.inFlight[id] {
		return false
	}
	u.inFlight[id] = true
	return true
}

func (u *Uploader) release(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.inFlight, id)
}

// Run retries upload_failed recordings at once and then every RetryEvery,
// each with its own growing delay, until ctx ends.
func (u *Uploader) Run(ctx context.Context) error {
	every := u.RetryEvery
	if every == 0 {
		every = defaultRetryEvery
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		u.retryFailed(ctx, every)
		t.Reset(every)
	}
}

// retryFailed tries once each upload_failed recording whose time has come.
func (u *Uploader) retryFailed(ctx context.Context, every time.Duration) {
	failed, err := u.recs.WithStatus(roomcast.RecordingPhaseUploadFailed)
	if err != nil {
		u.log.Warn("list recordings to upload", "err", err)
		return
	}
	maxDelay := u.MaxRetryDelay
	if maxDelay == 0 {
		maxDelay = defaultMaxRetryDelay
	}
	u.forgetAllBut(failed)
	for _, rec := range failed {
		if ctx.Err() != nil {
			return
		}
		u.mu.Lock()
		r, known := u.retries[rec.ID]
		u.mu.Unlock()
		if known && time.Now().Before(r.at) {
			continue
		}
		u.log.Info("retrying a recording upload", "recording", rec.ID, "room", rec.Room)
		err := u.upload(ctx, rec.ID, 1)
		u.mu.Lock()
		if err == nil {
			delete(u.retries, rec.ID)
		} else {
			r.delay = min(max(2*r.delay, every), maxDelay)
			u.retries[rec.ID] = retry{at: time.Now().Add(r.delay), delay: r.delay}
		}
		u.mu.Unlock()
	}
}

// forgetAllBut drops the retry delays of recordings no longer failed
// (uploaded some other way, or deleted).
func (u *Uploader) forgetAllBut(failed []roomcast.Recording) {
	keep := make(map[string]bool, len(failed))
	for _, rec := range failed {
		keep[rec.ID] = true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for id := range u.retries {
		if !keep[id] {
			delete(u.retries, id)
		}
	}
}
