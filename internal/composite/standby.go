package composite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/urlpolicy"
)

// A warm sandbox's Chromium waits on the meeting app itself, loaded on
// standby (meet.js ?standby=1): a job whose page is a meeting URL of that
// app enters it (the address changes in place and the app starts there)
// instead of loading it, which spared the page's load, ~250 ms of a warm
// start (docs/BENCHMARKS.md, "Start latency, app on standby"). Any other
// page is loaded as before. Only this server's own meeting app is put on
// standby, never one a start request names: an origin in the URL policy's
// Self, which the operator's configuration makes.

// MeetingApp is the meeting app a warm sandbox waits on: its base URL
// ("http://host:port") and the URL policy it is loaded under, which must
// count the base's origin as the server's own (Policy.Self).
type MeetingApp struct {
	Base   string
	Policy urlpolicy.Policy
}

// standbyPath is the app's page on standby: no room is joined.
const standbyPath = "/meet/standby?standby=1"

// appOf is the meeting app job's page belongs to, when it is the server's
// own: a URL under /meet/ on an origin of the job's policy's Self.
func appOf(job jobs.Job) (MeetingApp, bool) {
	u, err := url.Parse(job.Params.MeetingURL)
	if err != nil || u.User != nil || !strings.HasPrefix(u.Path, "/meet/") || u.Scheme != "http" && u.Scheme != "https" {
		return MeetingApp{}, false
	}
	base := u.Scheme + "://" + u.Host
	if o, err := urlpolicy.SelfOrigin(base); err != nil || !slices.Contains(job.URLs.Self, o) {
		return MeetingApp{}, false
	}
	return MeetingApp{Base: base, Policy: job.URLs}, true
}

// noteApp remembers job's meeting app for the warm sandboxes to come,
// unless one is configured (Runner.MeetingApp): a worker of the fleet
// learns its server's app from the jobs it gets.
func (r *Runner) noteApp(job jobs.Job) {
	app, ok := appOf(job)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.learnedApp = &app
}

// standbyApp is the meeting app a warm sandbox loads, ok false for none.
func (r *Runner) standbyApp() (MeetingApp, bool) {
	if r.MeetingApp.Base != "" {
		return r.MeetingApp, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.learnedApp == nil {
		return MeetingApp{}, false
	}
	return *r.learnedApp, true
}

const standbyJS = `!!(window.roomcast && window.roomcast.standby === true)`

// Standby loads app on standby and waits until it says it is: the next
// Join of one of its meeting URLs enters it.
func (b *Browser) Standby(ctx context.Context, app MeetingApp) error {
	b.guard.setPolicy(app.Policy)
	page := b.current()
	tctx, cancel := context.WithTimeout(page, b.opts.JoinTimeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	err := chromedp.Do(tctx, chromedp.Navigate(app.Base+standbyPath))
	for err == nil {
		var ready bool
		if ready, err = chromedp.Run(tctx, chromedp.Evaluate[bool](standbyJS)); err == nil && ready {
			b.mu.Lock()
			b.standby = app.Base
			b.mu.Unlock()
			return nil
		}
		if tctx.Err() != nil {
			err = errors.New("the app did not say it is on standby")
			break
		}
		time.Sleep(joinPoll)
	}
	b.refusal() // a refusal of the standby page is not the job's
	return fmt.Errorf("composite: meeting app on standby at %s: %w", origin(app.Base), err)
}

// enter takes the page on standby to b.url when that is a meeting URL of
// its app pol allows; false: the page must be loaded. A page is on standby
// for one job only.
func (b *Browser) enter(ctx context.Context, pol urlpolicy.Policy) bool {
	b.mu.Lock()
	base := b.standby
	b.standby = ""
	b.mu.Unlock()
	if base == "" || !strings.HasPrefix(b.url, base+"/meet/") || pol.CheckURL(ctx, b.url) != nil {
		return false
	}
	u, _ := json.Marshal(b.url)
	js := `(() => { const r = window.roomcast; if (!r || r.standby !== true) return false; r.enter(` + string(u) + `); return true; })()`
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	return err == nil && ok
}
