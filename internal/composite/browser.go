package composite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/urlpolicy"
)

// BrowserOptions tune how the bot waits for the meeting page.
type BrowserOptions struct {
	JoinTimeout time.Duration // per attempt; default 15 s
	Attempts    int           // loads of the page before giving up; default 3
	// AudioBufferFrames sets Chromium's audio output buffer (frames at 48
	// kHz); 0 keeps its default (10 ms). A larger one wakes Chromium and
	// PulseAudio less often, for an audio-only job, which needs no lip
	// sync.
	AudioBufferFrames int
}

// Browser is Chromium in kiosk mode on a sandbox's display, showing the
// meeting URL. It reloads the page when it does not join and restarts
// Chromium when it crashes.
type Browser struct {
	sb    *Sandbox
	url   string
	w, h  int
	opts  BrowserOptions
	log   *slog.Logger
	guard *guard // the URL policy, enforced inside Chromium

	// The current Chromium: Watch relaunches it while Publishers and
	// PlayoutSkew read it from other goroutines.
	mu     sync.Mutex
	closed bool
	cancel context.CancelFunc // ends the current Chromium
	page   context.Context
	vw, vh int // the page's layout size when it is not the window's (a warm sandbox's larger display)
	// standby is the base URL of the meeting app the page waits on
	// (Standby), "" when it shows something else.
	standby string
	pol     urlpolicy.Policy // the job's, from Join
}

// SetViewport lays the page out at w x h in the window's top-left corner
// from its next load on (a device metrics override), for a display larger
// than the job's output.
func (b *Browser) SetViewport(w, h int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w == b.w && h == b.h {
		w, h = 0, 0
	}
	b.vw, b.vh = w, h
}

// viewport is the override load applies, ok false for none.
func (b *Browser) viewport() (w, h int, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.vw, b.vh, b.vw > 0
}

// errClosed is a launch after Close: no Chromium may outlive its Browser.
var errClosed = errors.New("composite: browser closed")

// current is the current Chromium's page context (nil before launch).
func (b *Browser) current() context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.page
}

// chromiumPath is the real binary: /usr/bin/chromium is a wrapper script,
// which would leave the wrong pid to track.
func chromiumPath() string {
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium"
	}
	return "chromium"
}

// LaunchBrowser starts Chromium on the sandbox's display with a blank page.
func LaunchBrowser(sb *Sandbox, w, h int, opts BrowserOptions, log *slog.Logger) (*Browser, error) {
	if opts.JoinTimeout == 0 {
		opts.JoinTimeout = 15 * time.Second
	}
	if opts.Attempts == 0 {
		opts.Attempts = 3
	}
	g, err := newGuard(log)
	if err != nil {
		return nil, err
	}
	b := &Browser{sb: sb, w: w, h: h, opts: opts, log: log, guard: g}
	if err := b.launch(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Join opens the meeting URL and waits until the page reports it joined,
// reloading (and relaunching Chromium) on failure. From now on the browser
// loads only what pol allows; before, it loads nothing.
func (b *Browser) Join(ctx context.Context, url string, pol urlpolicy.Policy, log *slog.Logger) error {
	b.url, b.log, b.pol = url, log, pol
	b.guard.setPolicy(pol)
	return b.join(ctx)
}

// Alive reports whether Chromium is still running.
func (b *Browser) Alive() bool {
	page := b.current()
	return page != nil && page.Err() == nil
}

func (b *Browser) launch() error {
	opts := append(b.guard.flags(),
		chromedp.ExecPath(chromiumPath()),
		chromedp.Env(b.sb.Env...),
		chromedp.UserDataDir(filepath.Join(b.sb.dir, "chromium")),
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("kiosk", true),
		chromedp.Flag("window-position", "0,0"),
		chromedp.WindowSize(b.w, b.h),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Chromium's own calls home would only be refused by the URL policy.
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,CertificateTransparencyComponentUpdater,DialMediaRouteProvider"),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("password-store", "basic"),
	)
	if b.opts.AudioBufferFrames > 0 {
		opts = append(opts, chromedp.Flag("audio-buffer-size", strconv.Itoa(b.opts.AudioBufferFrames)))
	}
	opts = append(opts,
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }),
	)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	if b.cancel != nil {
		b.cancel()
	}
	b.standby = ""
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	page, cancelPage := chromedp.NewContext(alloc)
	b.page, b.cancel = page, func() { cancelPage(); cancelAlloc() }
	b.mu.Unlock()
	// The first run starts Chromium; it must not run under a timeout.
	t0 := time.Now()
	if _, err := chromedp.Run(page, chromedp.Evaluate[chromedp.Void]("1")); err != nil {
		return fmt.Errorf("composite: start chromium: %w", err)
	}
	if err := b.guard.attach(page); err != nil {
		return fmt.Errorf("composite: hold chromium to the URL policy: %w", err)
	}
	b.log.Info("chromium started", "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// join loads the page until it reports joined, reloading on timeout.
func (b *Browser) join(ctx context.Context) error {
	var last error
	for attempt := 1; attempt <= b.opts.Attempts; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if b.current() == nil || attempt > 1 && errors.Is(last, errBrowserGone) {
			if err := b.launch(); err != nil {
				last = err
				continue
			}
		}
		start := time.Now()
		last = b.load(ctx)
		if last == nil {
			b.log.Info("beam page joined", "attempt", attempt, "took", time.Since(start).Round(time.Millisecond), "page_ms", b.timing())
			return nil
		}
		if err := b.refusal(); err != nil {
			return err // a reload would go to the same place
		}
		b.log.Warn("beam page did not join; reloading", "attempt", attempt, "err", last)
	}
	return rcerr.Wrap(rcerr.Unavailable, last, fmt.Sprintf("the meeting page did not join the room within %v (%d attempts): %v", b.opts.JoinTimeout, b.opts.Attempts, errText(last)))
}

var errBrowserGone = errors.New("chromium is gone")

// load navigates and polls window.roomcast.joined.
func (b *Browser) load(ctx context.Context) error {
	page := b.current()
	tctx, cancel := context.WithTimeout(page, b.opts.JoinTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if w, h, ok := b.viewport(); ok {
		// Set on each load: a relaunched Chromium starts without it.
		opts := []chromedp.EmulateViewportOption{func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
			p.ScreenWidth, p.ScreenHeight = int64(w), int64(h)
		}}
		if h > w {
			opts = append(opts, chromedp.EmulatePortrait)
		}
		if err := chromedp.Do(tctx, chromedp.EmulateViewport(int64(w), int64(h), opts...)); err != nil {
			if page.Err() != nil {
				return errBrowserGone
			}
			return fmt.Errorf("lay the page out at %dx%d: %w", w, h, err)
		}
	}
	if b.enter(tctx, b.pol) {
		b.log.Info("entered the meeting app on standby")
	} else if err := chromedp.Do(tctx, chromedp.Navigate(b.url)); err != nil {
		if page.Err() != nil {
			return errBrowserGone
		}
		return fmt.Errorf("load the meeting URL: %w", err)
	}
	for {
		state, err := chromedp.Run(tctx, chromedp.Evaluate[pageState](pageStateJS))
		switch {
		case err == nil && state.Joined:
			return nil
		case err == nil && state.Error != "":
			return rcerr.New(rcerr.Unavailable, "the meeting page reports: %s", state.Error)
		case page.Err() != nil:
			return errBrowserGone
		case tctx.Err() != nil:
			return errors.New("window.roomcast.joined did not become true")
		}
		time.Sleep(joinPoll)
	}
}

// joinPoll is how often load asks the page whether it joined: the stream
// begins at the first keyframe after it says so, so each poll's wait is
// start time (one evaluation costs the page well under a millisecond).
const joinPoll = 20 * time.Millisecond

// timingJS is the meeting app's own account of its join (meet.js
// page.timing), ms since the page's navigation began.
const timingJS = `(() => {
  const t = (window.roomcast && window.roomcast.timing) || {};
  const r = v => typeof v === 'number' ? Math.round(v) : -1;
  return {script: r(t.start), signaled: r(t.joined), firstFrame: r(t.firstFrame)};
})()`

// pageTiming is where a join's time went, in the page: its script ran
// (the load), the room was joined (signaling, offer and answer), the first
// remote picture was presented.
type pageTiming struct {
	Script     int `json:"script"`
	Signaled   int `json:"signaled"`
	FirstFrame int `json:"firstFrame"`
}

// timing reads the page's join timing (zeros when it cannot).
func (b *Browser) timing() pageTiming {
	ctx, cancel := context.WithTimeout(b.current(), time.Second)
	defer cancel()
	t, _ := chromedp.Run(ctx, chromedp.Evaluate[pageTiming](timingJS))
	return t
}

type pageState struct {
	Joined bool   `json:"joined"`
	Error  string `json:"error"`
}

const pageStateJS = `(() => {
  const r = window.roomcast;
  return {joined: !!(r && r.joined === true), error: (r && r.error && r.error.message) || ''};
})()`

// Watch keeps the page joined until ctx ends: when Chromium crashes or the
// page leaves the room, it restarts Chromium or reloads the page. When the
// page navigates somewhere the URL policy refuses, it sends that on fail and
// returns: the job must end, not record an error page.
func (b *Browser) Watch(ctx context.Context, fail chan<- jobs.Outcome) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-b.guard.refused:
			offer(ctx, fail, jobs.Failed(err))
			return
		case <-t.C:
		}
		page := b.current()
		cctx, cancel := context.WithTimeout(page, 5*time.Second)
		stop := context.AfterFunc(ctx, cancel) // a stop does not wait for the page
		state, err := chromedp.Run(cctx, chromedp.Evaluate[pageState](pageStateJS))
		stop()
		cancel()
		if err == nil && state.Joined {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("beam page lost the room; recovering", "err", err, "page_error", state.Error)
		if page.Err() != nil || err != nil {
			if lerr := b.launch(); lerr != nil {
				b.log.Warn("restart chromium", "err", lerr)
				continue
			}
		}
		if jerr := b.join(ctx); jerr != nil {
			b.log.Warn("rejoin", "err", jerr)
		}
	}
}

// refusal is the main frame's refused navigation, if there was one.
func (b *Browser) refusal() error {
	select {
	case err := <-b.guard.refused:
		return err
	default:
		return nil
	}
}

// Close ends Chromium and its proxy; call it after Watch has returned.
func (b *Browser) Close() {
	b.mu.Lock()
	b.closed = true
	if b.cancel != nil {
		b.cancel()
	}
	b.mu.Unlock()
	b.guard.close()
}

// errText is an error's user-facing text: an *rcerr.Error's message, else
// the error itself, with tokens and stream keys redacted.
func errText(err error) string {
	var e *rcerr.Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return logging.Redact(err.Error())
}

// publishersJS counts the room's peers that publish or may (-1: the page is
// not roomcast's meeting app, so emptiness is unknown).
const publishersJS = `(() => {
  const c = window.roomcast && window.roomcast.client;
  if (!c || !c.store) return -1;
  return Object.values(c.store.getState().peers)
    .filter(p => p.role === 'host' || p.role === 'guest' || p.audio || p.video).length;
})()`

// Publishers returns how many peers in the room publish, or -1 if unknown;
// it gives up when stop ends.
func (b *Browser) Publishers(stop context.Context) int {
	ctx, cancel := context.WithTimeout(b.current(), 3*time.Second)
	defer cancel()
	defer context.AfterFunc(stop, cancel)()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](publishersJS))
	if err != nil {
		return -1
	}
	return n
}

// playoutSkewJS reads the beam view's own measure of how far ahead of its
// sound it plays a peer's picture (meet.js syncPlayout; ms, positive: the
// sound is late): the worst peer's and the peers' median, or nulls.
const playoutSkewJS = `(() => {
  const r = window.roomcast || {};
  const n = v => typeof v === 'number' ? v : null;
  return {worst: n(r.playoutSkew), lead: n(r.pictureLead)};
})()`

// pageSkew is how far ahead of its sound the page plays a peer's picture:
// the worst peer's (for the monitor) and the peers' median (Lead: the
// stream's picture is delayed by as much, Fanout.delayPicture).
type pageSkew struct {
	Worst, Lead time.Duration
}

// PlayoutSkew returns how far ahead of their sound the page plays the
// peers' pictures; ok is false when no peer sends both.
func (b *Browser) PlayoutSkew() (skew pageSkew, ok bool) {
	ctx, cancel := context.WithTimeout(b.current(), 2*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ Worst, Lead *float64 }](playoutSkewJS))
	if err != nil || v.Worst == nil || v.Lead == nil {
		return pageSkew{}, false
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	return pageSkew{Worst: ms(*v.Worst), Lead: ms(*v.Lead)}, true
}
