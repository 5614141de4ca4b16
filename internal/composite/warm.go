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
// its meeting page (about 3 s sooner). One is kept at the resolution of the
// last job (1280x720 at first).
type warm struct {
	sb  *Sandbox
	br  *Browser
	res roomcast.Resolution
}

// Prewarm prepares a warm sandbox in the background if none is ready.
func (r *Runner) Prewarm() {
	r.mu.Lock()
	res := r.target()
	if r.closed || r.warming || r.NoPrewarm || (r.spare != nil && r.spare.res == res) {
		r.mu.Unlock()
		return
	}
	if old := r.spare; old != nil { // for a resolution no longer wanted
		r.spare = nil
		r.warmers.Go(old.close)
	}
	r.warming = true
	if r.warmCtx == nil {
		r.warmCtx, r.stopWarm = context.WithCancel(context.Background())
	}
	ctx := r.warmCtx
	defer r.mu.Unlock() // Go before Close can Wait
	r.warmers.Go(func() {
		w, err := r.startWarm(ctx, res)
		r.mu.Lock()
		r.warming = false
		switch {
		case err != nil:
			r.mu.Unlock()
			r.Log.Warn("could not prepare a warm sandbox", "err", err)
		case r.closed:
			r.mu.Unlock()
			w.close()
		case w.res != r.target(): // a job meanwhile asked for another resolution
			r.mu.Unlock()
			w.close()
			r.Prewarm()
		default:
			r.spare = w
			r.mu.Unlock()
		}
	})
}

// target is the resolution a warm sandbox should have; r.mu is held.
func (r *Runner) target() roomcast.Resolution {
	if r.warmRes.Width == 0 {
		return roomcast.DefaultResolution
	}
	return r.warmRes
}

// startWarm prepares a sandbox and browser at res, unless stop (Close)
// ends first.
func (r *Runner) startWarm(stop context.Context, res roomcast.Resolution) (*warm, error) {
	b := make([]byte, 6)
	rand.Read(b)
	dir := filepath.Join(r.WorkDir, "warm-"+hex.EncodeToString(b))
	ctx, cancel := context.WithTimeout(stop, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	sb, err := StartSandbox(ctx, dir, res.Width, res.Height, r.Log)
	if err != nil {
		return nil, err
	}
	if err := stop.Err(); err != nil {
		sb.Close()
		return nil, err
	}
	br, err := LaunchBrowser(sb, res.Width, res.Height, r.Browser, r.Log)
	if err != nil {
		sb.Close()
		return nil, err
	}
	r.Log.Info("warm sandbox ready", "resolution", res, "took", time.Since(t0).Round(time.Millisecond))
	return &warm{sb: sb, br: br, res: res}, nil
}

// takeWarm returns the spare if it has the resolution and is alive; the
// next one (at this resolution) is prepared once this job is under way, so
// it does not compete with it for the CPU.
func (r *Runner) takeWarm(res roomcast.Resolution) *warm {
	r.mu.Lock()
	w := r.spare
	if w != nil && w.res == res {
		r.spare = nil
	} else {
		w = nil
	}
	stale := r.spare != nil && r.spare.res != res
	if stale {
		r.spare.close()
		r.spare = nil
	}
	r.warmRes = res
	r.mu.Unlock()
	if w != nil && !w.br.Alive() {
		w.close()
		return nil
	}
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
