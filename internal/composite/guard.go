package composite

import (
	"context"
	"log/slog"
	"net/url"
	"sync"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/urlpolicy"
)

// guard holds the bot's browser to the job's URL policy. Two layers, both
// failing closed: every connection Chromium opens goes through the policy
// proxy (--proxy-server, loopback included), and every document request
// (the first load, each redirect, every frame) is paused over CDP Fetch and
// checked before it leaves. The second layer is what tells a refused
// main-frame navigation apart, so the job fails with a clear error instead
// of recording an error page.
type guard struct {
	proxy *urlpolicy.Proxy // holds the policy both layers apply
	log   *slog.Logger

	refused chan error     // the main frame's first refusal
	wg      sync.WaitGroup // the judge loop of each Chromium launched
}

func newGuard(log *slog.Logger) (*guard, error) {
	p, err := urlpolicy.StartProxy(log)
	if err != nil {
		return nil, err
	}
	return &guard{proxy: p, log: log, refused: make(chan error, 1)}, nil
}

// setPolicy sets what the browser may load from now on.
func (g *guard) setPolicy(pol urlpolicy.Policy) { g.proxy.SetPolicy(pol) }

// flags are Chromium's flags that route everything through the proxy. The
// implicit bypass of loopback addresses is removed ("<-loopback>"), so the
// meeting page's own server goes through it too.
func (g *guard) flags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ProxyServer(g.proxy.URL()),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
	}
}

// attach pauses the page's document requests and judges each; it runs
// until page ends.
func (g *guard) attach(page context.Context) error {
	paused := chromedp.Events(page, fetch.RequestPaused)
	_, err := chromedp.Call(page, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*", ResourceType: network.ResourceTypeDocument, RequestStage: fetch.RequestStageRequest},
	}})
	if err != nil {
		return err
	}
	main := cdp.FrameID(chromedp.FromContext(page).Target.TargetID)
	g.wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			g.judge(page, &ev, ev.FrameID == main)
		}
	})
	return nil
}

// judge lets one paused document request continue or fails it.
func (g *guard) judge(page context.Context, ev *fetch.EventRequestPaused, mainFrame bool) {
	var err error
	if pol := g.proxy.Policy(); pol == nil {
		err = &urlpolicy.Refusal{Reason: "the bot has no URL policy yet"}
	} else {
		err = pol.CheckURL(page, ev.Request.URL)
	}
	if err == nil {
		chromedp.Call(page, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		return
	}
	chromedp.Call(page, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
	where := origin(ev.Request.URL)
	g.log.Warn("the bot's page tried to load a refused URL", "url", where, "main_frame", mainFrame, "reason", err)
	if mainFrame {
		select {
		case g.refused <- rcerr.New(rcerr.PermissionDenied, "the meeting page went to %s, which the bot may not open: %v", where, err):
		default:
		}
	}
}

// origin is a URL's scheme and host only: its path and query may carry a
// token.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// close stops the proxy; call after Chromium ended (the judges end with
// the page).
func (g *guard) close() {
	g.proxy.Close()
	g.wg.Wait()
}
