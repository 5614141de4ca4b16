package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// syntheticJS replaces getUserMedia before the page loads: the camera is
// a canvas of one colour (with a dot moving along its top edge, so the
// picture is not still) and the microphone a 1 kHz tone, silent until the
// test calls window.speak(true). getDisplayMedia (a screen share) gives a
// green canvas with a moving dot.
const syntheticJS = `(() => {
  navigator.mediaDevices.getDisplayMedia = async () => {
    const canvas = Object.assign(document.createElement('canvas'), { width: 640, height: 360 });
    const g = canvas.getContext('2d');
    setInterval(() => {
      g.fillStyle = '#00c000'; g.fillRect(0, 0, 640, 360);
      g.fillStyle = '#fff'; g.fillRect((Date.now() / 5) %% 620, 340, 16, 8);
    }, 66);
    return canvas.captureStream(15);
  };
  navigator.mediaDevices.getUserMedia = async () => {
    const canvas = Object.assign(document.createElement('canvas'), { width: 640, height: 360 });
    const g = canvas.getContext('2d');
    setInterval(() => {
      g.fillStyle = %q; g.fillRect(0, 0, 640, 360);
      g.fillStyle = '#fff'; g.fillRect((Date.now() / 5) %% 620, 0, 16, 8);
    }, 33);
    const ac = new AudioContext();
    await ac.resume();
    const osc = ac.createOscillator(), gain = ac.createGain(), dst = ac.createMediaStreamDestination();
    osc.frequency.value = 1000; gain.gain.value = 0;
    osc.connect(gain).connect(dst); osc.start();
    window.speak = on => { gain.gain.value = on ? 0.25 : 0; return on; };
    return new MediaStream([...canvas.captureStream(30).getVideoTracks(), ...dst.stream.getAudioTracks()]);
  };
})()`

// syntheticPerson joins room in the meeting app as a guest with a
// synthetic camera of color and a microphone the test turns on
// (window.speak).
func syntheticPerson(t *testing.T, s *server, browser context.Context, room, identity, color string) context.Context {
	t.Helper()
	return syntheticPersonAs(t, s, browser, room, identity, "guest", color)
}

// syntheticPersonAs is syntheticPerson with the given role.
func syntheticPersonAs(t *testing.T, s *server, browser context.Context, room, identity, role, color string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: fmt.Sprintf(syntheticJS, color)}); err != nil {
		t.Fatalf("synthetic media for %s: %v", identity, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(640, 360),
		chromedp.Navigate(meetURL(s, room, s.joinToken(t, room, identity, role)))); err != nil {
		t.Fatalf("open %s's page: %v", identity, err)
	}
	clickJoin(t, ctx)
	waitJS(t, ctx, 20*time.Second, "typeof window.speak === 'function' && window.roomcast.client.store.getState().localTracks.audio")
	return ctx
}

func speak(t *testing.T, page context.Context, on bool) {
	t.Helper()
	var got bool
	eval(t, page, fmt.Sprintf("window.speak(%v)", on), &got)
}

// The composite's layouts: alice (red) speaks first and bob (blue) after;
// in the speaker layout the one who speaks takes the stage, and switching
// to single-speaker and to grid while live changes the picture as it
// should, while the stream to the ingest never drops.
func TestLayoutsFollowTheSpeaker(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium", "nginx")
	ingest := testkit.StartRTMP(t)
	s := startServer(t)
	browser := newBrowser(t)
	alice := syntheticPerson(t, s, browser, "talk", "alice", "#ff0000")
	bob := syntheticPerson(t, s, browser, "talk", "bob", "#0000ff")
	speak(t, alice, true)
	spoke := time.Now()

	c := client(t, s)
	ctx := testContext(t, 2*time.Minute)
	if _, err := c.StartRTMPOrRecording(ctx, "talk", roomcast.StartParams{Record: true, Layout: "stage"}); !isCode(err, "invalid_argument") || !strings.Contains(err.Error(), "layout") {
		t.Errorf("start with a bad layout: %v, want invalid_argument naming layout", err)
	}
	if _, err := c.StartRTMPOrRecording(ctx, "talk", roomcast.StartParams{RTMPURLs: []string{ingest.URL("talk-" + secretKey)},
		Layout: roomcast.LayoutSpeaker, Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "talk", 40*time.Second, "streaming", func(st roomcast.BeamState) bool {
		return st.RTMP.Running && allDestinations(st, roomcast.DestinationStarted)
	})
	if st.Layout != roomcast.LayoutSpeaker {
		t.Errorf("state layout %q, want speaker", st.Layout)
	}
	waitPicture(t, c, "talk", "alice (red) on the stage, bob in the strip", 20*time.Second, column("red", "red", "blue"))
	t.Logf("alice on the stage %v after she began to speak", time.Since(spoke).Round(100*time.Millisecond))
	speak(t, alice, false)
	speak(t, bob, true)
	spoke = time.Now()
	waitPicture(t, c, "talk", "bob (blue) takes the stage when he speaks", 10*time.Second, column("blue", "blue", "red"))
	took := time.Since(spoke)
	t.Logf("bob on the stage %v after he began to speak", took.Round(100*time.Millisecond))
	if took < 900*time.Millisecond {
		t.Errorf("bob took the stage %v after he began to speak: no hysteresis (want ≥ 1 s)", took)
	}
	// A cough: alice says something for 300 ms; bob keeps the stage.
	speak(t, alice, true)
	time.Sleep(300 * time.Millisecond)
	speak(t, alice, false)
	for range 8 { // the next 2 s of pictures
		time.Sleep(250 * time.Millisecond)
		waitPicture(t, c, "talk", "bob still on the stage after alice's cough", time.Second, column("blue", "blue", "red"))
	}

	for _, step := range []struct {
		layout roomcast.Layout
		want   []spot
	}{
		{roomcast.LayoutSingleSpeaker, append(column("blue", "blue", "blue"), spot{0.1, 0.5, "blue"}, spot{0.9, 0.5, "blue"})},
		// Two tiles side by side (in the order the bot's page first saw
		// them: either).
		{roomcast.LayoutGrid, []spot{{0.25, 0.5, "red|blue"}, {0.75, 0.5, "red|blue"}}},
	} {
		changed := time.Now()
		st, err := c.SetLayout(ctx, "talk", step.layout)
		if err != nil || st.Layout != step.layout {
			t.Fatalf("set layout %s: %v, state %q", step.layout, err, st.Layout)
		}
		waitPicture(t, c, "talk", string(step.layout), 10*time.Second, step.want)
		t.Logf("%s on the output %v after the change", step.layout, time.Since(changed).Round(100*time.Millisecond))
	}
	if _, err := c.SetLayout(ctx, "talk", "mosaic"); !isCode(err, "invalid_argument") {
		t.Errorf("set layout mosaic: %v, want invalid_argument", err)
	}
	// The stream never dropped: the destination connected once.
	st, _ = c.BeamState(ctx, "talk")
	if !st.RTMP.Running || !allDestinations(st, roomcast.DestinationStarted) {
		t.Errorf("after the layout changes: %+v", st.RTMP)
	}
	metrics := string(httpGet(t, s.URL+"/metrics"))
	if v, ok := metricValue(metrics, "roomcast_destination_reconnects_total"); !ok || v != 0 {
		t.Errorf("destination reconnects %v (found %v), want 0", v, ok)
	}
	if _, err := c.StopRTMPAndRecording(ctx, "talk"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetLayout(ctx, "talk", roomcast.LayoutGrid); !isCode(err, "conflict") {
		t.Errorf("set layout with nothing running: %v, want conflict", err)
	}
}

// spot is a point of the picture (fractions of its width and height) and
// the colour it must show.
type spot struct {
	x, y  float64
	color string
}

// column is three spots down the middle of the picture: at a fifth, 62 %
// and 90 % of its height (the speaker layout's stage covers the top three
// quarters, its strip the rest).
func column(top, middle, bottom string) []spot {
	return []spot{{0.5, 0.2, top}, {0.5, 0.62, middle}, {0.5, 0.9, bottom}}
}

// waitPicture polls the thumbnail until every spot shows its colour.
func waitPicture(t *testing.T, c *roomcast.Client, room, what string, timeout time.Duration, want []spot) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got []string
	var last []byte
	for {
		if b, err := c.Thumbnail(context.Background(), room); err == nil {
			if img, err := jpeg.Decode(bytes.NewReader(b)); err == nil {
				last, got = b, nil
				ok := true
				for _, sp := range want {
					got = append(got, colorAt(img, sp.x, sp.y))
					ok = ok && slices.Contains(strings.Split(sp.color, "|"), got[len(got)-1])
				}
				if ok && len(got) == 2 {
					ok = got[0] != got[1] // both people, not one twice
				}
				if ok {
					saveArtifact(t, "layout-"+strings.ReplaceAll(what[:min(len(what), 24)], " ", "-")+".jpg", b)
					return
				}
			}
		}
		if time.Now().After(deadline) {
			saveArtifact(t, "layout-failed.jpg", last)
			t.Fatalf("after %v: %s not on the output; the spots show %v, want %v", timeout, what, got, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// colorAt names the colour of the picture around (x, y) (fractions of its
// size): red, blue, or other.
func colorAt(img image.Image, fx, fy float64) string {
	b := img.Bounds()
	x, y := b.Min.X+int(fx*float64(b.Dx())), b.Min.Y+int(fy*float64(b.Dy()))
	var r, g, bl uint32
	for dy := -3; dy <= 3; dy++ {
		for dx := -3; dx <= 3; dx++ {
			pr, pg, pb, _ := img.At(x+dx, y+dy).RGBA()
			r, g, bl = r+pr>>8, g+pg>>8, bl+pb>>8
		}
	}
	r, g, bl = r/49, g/49, bl/49
	switch {
	case r > 150 && g < 90 && bl < 90:
		return "red"
	case bl > 150 && r < 90 && g < 90:
		return "blue"
	case g > 140 && r < 90 && bl < 90:
		return "green"
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", r, g, bl)
}
