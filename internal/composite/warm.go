package composite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"time"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// A warm sandbox is a display, an audio server and a Chromium on a blank
// page, started before a job needs them: a job that finds one only loads
// its meeting page (about 3 s sooner). It serves a job of any resolution:
// its display is as large as any job may be (warmSize), and the page is
// laid out at the job's size in the top-left corner (Browser.SetViewport,
// a device metrics override), which is the region the encoder captures.
type warm struct {
	sb *Sandbox
	br *Browser
}

// warmSize covers every resolution a job may ask for: 1920x1080 landscape
// and 1080x1920 portrait (jobs.Validate).
var warmSize = roomcast.Resolution{Width: 1920, Height: 1920}

// Prewarm prepares a warm sandbox in the background if none is ready.
func (r *Runner) Prewarm() {
	r.mu.Lock()
	if r.closed || r.warming || r.NoPrewarm || r.spare != nil {
		r.mu.Unlock()
		return
	}
	r.warming = true
	if r.warmCtx == nil {
		r.warmCtx, r.stopWarm = context.WithCancel(context.Background())
	}
	ctx := r.warmCtx
	defer r.mu.Unlock() // Go before Close can Wait
	r.warmers.Go(func() {
		w, err := r.startWarm(ctx)
		r.mu.Lock()
		r.warming = false
		switch {
		case err != nil:
			r.mu.Unlock()
			r.Log.Warn("could not prepare a warm sandbox", "err", err)
		case r.closed:
			r.mu.Unlock()
			w.close()
		default:
			r.spare = w
			r.mu.Unlock()
		}
	})
}

// startWarm prepares a sandbox and browser at warmSize, unless stop
// (Close) ends first.
func (r *Runner) startWarm(stop context.Context) (*warm, error) {
	b := make([]byte, 6)
	rand.Read(b)
	dir := filepath.Join(r.WorkDir, "warm-"+hex.EncodeToString(b))
	ctx, cancel := context.WithTimeout(stop, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	sb, err := StartSandbox(ctx, dir, warmSize.Width, warmSize.Height, r.Log)
	if err != nil {
		return nil, err
	}
	if err := stop.Err(); err != nil {
		sb.Close()
		return nil, err
	}
	br, err := LaunchBrowser(sb, warmSize.Width, warmSize.Height, r.Browser, r.Log)
	if err != nil {
		sb.Close()
		return nil, err
	}
	if app, ok := r.standbyApp(); ok {
		if err := br.Standby(ctx, app); err != nil {
			r.Log.Warn("the warm sandbox loads the job's page instead", "err", err)
		}
	}
	r.Log.Info("warm sandbox ready", "display", warmSize, "took", time.Since(t0).Round(time.Millisecond))
	return &warm{sb: sb, br: br}, nil
}

// takeWarm returns the spare, if it is alive, with its page set to lay out
// at res; the next one is prepared once this job is under way, so it does
// not compete with it for the CPU.
func (r *Runner) takeWarm(res roomcast.Resolution) *warm {
	r.mu.Lock()
	w := r.spare
	r.spare = nil
	r.mu.Unlock()
	if w == nil {
		return nil
	}
	if !w.br.Alive() {
		w.close()
		return nil
	}
	w.br.SetViewport(res.Width, res.Height)
	return w
}

func (w *warm) close() {
	w.br.Close()
	w.sb.Close()
}

// Close releases the warm sandbox, stops one being prepared and waits for
// it (and for one being released); no more are prepared.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	w := r.spare
	r.spare = nil
	if r.stopWarm != nil {
		r.stopWarm() // a sandbox being prepared gives up
	}
	r.mu.Unlock()
	if w != nil {
		w.close()
	}
	r.warmers.Wait()
}
