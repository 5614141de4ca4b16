package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkJoinToFirstFrame measures, in headless Chromium, the time from
// clicking Join in the meeting app to the joined message (signaling and
// token check) and to the first decoded frame of a peer already in the room
// (ICE, DTLS, the SFU's keyframe request). The page's own clock
// (window.roomcast.timing) excludes chromedp's round trips.
//
//	CI=true go test -run '^$' -bench JoinToFirstFrame -benchtime 10x ./test/
func BenchmarkJoinToFirstFrame(b *testing.B) {
	s := startServer(b)
	browser := newBrowser(b)
	joinPage(b, s, browser, "bench", "presenter", "host")
	token := s.joinToken(b, "bench", "viewer", "viewer")
	var joined, frame time.Duration
	for b.Loop() {
		page, cancel := chromedp.NewContext(browser)
		if err := chromedp.Do(page, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(meetURL(s, "bench", token))); err != nil {
			b.Fatal(err)
		}
		clickJoin(b, page)
		waitJS(b, page, 15*time.Second, "window.roomcast.joined === true")
		var t struct{ Start, Joined, FirstFrame float64 }
		eval(b, page, "window.roomcast.timing", &t)
		joined += ms(t.Joined - t.Start)
		frame += ms(t.FirstFrame - t.Start)
		cancel()
	}
	b.ReportMetric(float64(joined.Milliseconds())/float64(b.N), "ms-to-joined")
	b.ReportMetric(float64(frame.Milliseconds())/float64(b.N), "ms-to-first-frame")
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func clickJoin(tb testing.TB, page context.Context) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(page, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#join"))); err != nil {
		tb.Fatalf("click join: %v", err)
	}
}
