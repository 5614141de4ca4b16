package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
)

// publisherFlags are test/chrome_test.go's: Debian's Chromium as root on a
// closed network, with fake camera and mic.
var publisherFlags = []chromedp.ExecAllocatorOption{
	chromedp.ExecPath("chromium"),
	chromedp.Flag("headless", "new"),
	chromedp.NoSandbox,
	chromedp.DisableGPU,
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-dev-shm-usage", true),
	chromedp.Flag("use-fake-ui-for-media-stream", true),
	chromedp.Flag("use-fake-device-for-media-stream", true),
	chromedp.Flag("allow-loopback-in-peer-connection", true),
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("disable-backgrounding-occluded-windows", true),
	chromedp.WindowSize(1280, 720),
	chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}),
}

type joinState struct {
	Joined bool   `json:"joined"`
	Error  string `json:"error"`
}

const joinStateJS = `({joined: !!(window.roomcast && window.roomcast.joined === true),
  error: (window.roomcast && window.roomcast.error && window.roomcast.error.message) || ''})`

// publisher is a headless Chromium that joined the room as host through
// the meeting app and publishes its fake camera and mic.
type publisher struct {
	pid   int
	close func()
}

func startPublisher(meetURL string) (*publisher, error) {
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), publisherFlags...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	p := &publisher{close: func() { cancelBrowser(); cancelAlloc() }}
	// The first action starts Chromium; it must not run under a timeout.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void]("1")); err != nil {
		p.close()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	if proc := chromedp.FromContext(bctx).Browser.Process(); proc != nil {
		p.pid = proc.Pid
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(meetURL),
		chromedp.Click(chromedp.CSS("#join")))
	for err == nil {
		var st joinState
		st, err = chromedp.Run(ctx, chromedp.Evaluate[joinState](joinStateJS))
		switch {
		case err != nil:
		case st.Joined:
			return p, nil
		case st.Error != "":
			err = errors.New(st.Error)
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	p.close()
	return nil, fmt.Errorf("publisher page did not join: %w", err)
}
