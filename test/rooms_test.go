package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/avcheck"
	"github.com/roomcast/roomcast/internal/rtcclient"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/internal/trackrec"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// startFleet runs n room servers on one external NATS, each with its own
// data dir and the same secret (tokens work on all), and returns them with
// the NATS URL.
func startFleet(t testing.TB, n int, extra ...string) ([]*server, string) {
	t.Helper()
	natsURL := startNATS(t)
	first := startServer(t, append([]string{"--nats", natsURL, "--worker-slots", "0", "--drain-timeout", "3s"}, extra...)...)
	out := []*server{first}
	for range n - 1 {
		out = append(out, joinFleet(t, first, natsURL, extra...))
	}
	return out, natsURL
}

// joinFleet starts another room server on natsURL with first's secret.
func joinFleet(t testing.TB, first *server, natsURL string, extra ...string) *server {
	t.Helper()
	data := t.TempDir()
	secret, err := os.ReadFile(filepath.Join(first.data, "secret"))
	if err == nil {
		err = os.WriteFile(filepath.Join(data, "secret"), secret, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, append([]string{"--nats", natsURL, "--worker-slots", "0", "--drain-timeout", "3s", "--data", data}, extra...)...)
}

// startBalancer is the fleet's one name, as a load balancer would give it:
// every request (a page, a signaling WebSocket) goes to the next server
// that accepts a connection. It returns the balancer's URL.
func startBalancer(t *testing.T, servers []*server) string {
	t.Helper()
	var next atomic.Int64
	var d net.Dialer
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "fleet"})
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var last error
			for range servers {
				s := servers[int(next.Add(1))%len(servers)]
				c, err := d.DialContext(ctx, network, strings.TrimPrefix(s.URL, "http://"))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		}},
	}
	lb := httptest.NewServer(proxy)
	t.Cleanup(lb.Close)
	return lb.URL
}

func wsURL(s *server) string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/rtc" }

// Peers joining one room through three servers end up on one server and
// see and receive each other: pion clients for six peers, two of them on
// each server's address, and two people in Chromium who open the meeting
// app at two different servers.
func TestRoomSpansServers(t *testing.T) {
	need(t)
	servers, _ := startFleet(t, 3)
	ctx := testContext(t, 60*time.Second)

	type joined struct {
		c      *rtcclient.Client
		tracks atomic.Int32
	}
	var peers []*joined
	for i := range 6 {
		s := servers[i%3]
		j := &joined{}
		c, err := rtcclient.Dial(ctx, rtcclient.Options{URL: wsURL(s), Room: "many",
			Token: s.joinToken(t, "many", "p"+string(rune('0'+i)), "guest"),
			OnTrack: func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				j.tracks.Add(1)
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
				}
			}})
		if err != nil {
			t.Fatalf("peer %d through %s: %v", i, s.URL, err)
		}
		t.Cleanup(func() { c.Close() })
		j.c = c
		peers = append(peers, j)
		if i > 0 {
			continue
		}
		// One publishes (rtcclient, unlike a browser, does not receive
		// while it publishes in a room that has tracks already).
		if _, err := rtcclient.PublishSynthetic(ctx, c, rtcclient.Synthetic{VideoBitrate: 200_000}); err != nil {
			t.Fatal(err)
		}
	}
	owner, _ := peers[0].c.Server()
	redirected := 0
	for i, p := range peers {
		at, hops := p.c.Server()
		if at != owner {
			t.Errorf("peer %d joined %s, peer 0 %s: two halves of one room", i, at, owner)
		}
		if hops > 1 {
			t.Errorf("peer %d was sent on %d times; one redirect is enough", i, hops)
		}
		redirected += hops
	}
	if redirected != 4 {
		t.Errorf("%d of 6 joins were redirected, want 4 (two of three servers do not own the room)", redirected)
	}
	seen := func() (out []string) {
		for _, p := range peers {
			out = append(out, fmt.Sprintf("%d peers/%d tracks", len(p.c.Peers()), p.tracks.Load()))
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < len(peers); {
		p := peers[i]
		if len(p.c.Peers()) == 5 && (i == 0 || p.tracks.Load() == 2) {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %v; want every peer to see the 5 others and the publisher's 2 tracks", seen())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Track recording started through a server the room does not live on
	// runs on the room's server and records the publisher.
	var via *server
	for _, s := range servers {
		if wsURL(s) != owner {
			via = s
		}
	}
	c := client(t, via)
	if _, err := c.StartTrackRecording(ctx, "many"); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "many", 15*time.Second, "track recording started", func(st roomcast.BeamState) bool { return st.Recording.Server.Running })
	time.Sleep(2 * time.Second) // what is recorded
	if _, err := c.StopTrackRecording(ctx, "many"); err != nil {
		t.Fatal(err)
	}
	man := downloadRecording(t, via, onlyRecording(t, c, "many", roomcast.RecordingKindTracks), t.TempDir())
	// (The synthetic video has no VP8 keyframe to record from; its Opus
	// plays.)
	audio := slices.IndexFunc(man.Tracks, func(tr trackrec.ManifestTrack) bool { return tr.Kind == "audio" })
	if len(man.Tracks) != 2 || man.Tracks[0].Identity != "p0" || man.Tracks[1].Identity != "p0" ||
		audio < 0 || man.Tracks[audio].DurationMs < 1500 {
		t.Errorf("track recording through another server: %+v, want p0's two tracks, its sound over 1.5 s", man.Tracks)
	}

	// Two people at two servers' pages meet in one room.
	browser := newBrowser(t)
	alice := joinPage(t, servers[0], browser, "pair", "alice", "host")
	bob := joinPage(t, servers[1], browser, "pair", "bob", "guest")
	for name, page := range map[string]context.Context{"alice": alice, "bob": bob} {
		waitJS(t, page, 20*time.Second, "window.roomcast.joined === true")
		d := waitMedia(t, page, 1, 20*time.Second)
		t.Logf("%s decodes the other's video and audio %v after joined", name, d)
	}
	waitJS(t, alice, 5*time.Second, `[...document.querySelectorAll('.tile .name')].some(e => e.textContent === 'bob')`)
	waitJS(t, bob, 5*time.Second, `[...document.querySelectorAll('.tile .name')].some(e => e.textContent === 'alice')`)

	// GET /v1/rooms through any server lists both rooms with all their
	// peers, wherever they live.
	for _, s := range servers {
		rooms, err := client(t, s).ListRooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, r := range rooms {
			got[r.Room] = len(r.Peers)
			if r.Beam.RTMP.State != roomcast.StreamingStateNone {
				t.Errorf("%s: room %s has beam state %+v", s.URL, r.Room, r.Beam)
			}
		}
		if len(got) != 2 || got["many"] != 6 || got["pair"] != 2 {
			t.Errorf("GET /v1/rooms through %s: %v, want many: 6 peers, pair: 2", s.URL, got)
		}
	}
}

// ownerOf joins room through s with a viewer token and returns the server
// the room lives on (the probe stays in the room until the test ends).
func ownerOf(t testing.TB, ctx context.Context, servers []*server, via *server, room string) (*server, *rtcclient.Client) {
	t.Helper()
	probe, err := rtcclient.Dial(ctx, rtcclient.Options{URL: wsURL(via), Room: room, Token: via.joinToken(t, room, "probe", "viewer")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { probe.Close() })
	at, _ := probe.Server()
	for _, s := range servers {
		if wsURL(s) == at {
			return s, probe
		}
	}
	t.Fatalf("the room lives on %s, which is none of the servers", at)
	return nil, nil
}

// forwarded reads roomcast_forwarded_tracks from a live server's /metrics.
func forwarded(t testing.TB, s *server) int {
	return int(serverMetric(t, s, "roomcast_forwarded_tracks"))
}

// serverMetric reads a gauge from a live server's /metrics.
func serverMetric(t testing.TB, s *server, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", s.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	v, ok := metricValue(string(b), name)
	if !ok {
		t.Fatalf("%s has no %s", s.URL, name)
	}
	return v
}

// The server a room lives on is killed while two people talk and the room
// is recorded: both people (entering through the fleet's one name) and the
// beam (started through another server) are back in one room on a server
// still alive within 10 s, and the recording goes on with no gap in the
// picture or the sound longer than 5 s.
func TestRoomServerLostPeersAndBeamMoveOn(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	servers, natsURL := startFleet(t, 3)
	lb := startBalancer(t, servers)
	// The composite worker runs apart from the room servers, as it would
	// in production, so that killing a room server spares it.
	startWorkerProcess(t, &server{URL: servers[0].URL, data: servers[0].data, NATS: strings.TrimPrefix(natsURL, "nats://")}, "w1")
	ctx := testContext(t, 4*time.Minute)

	owner, _ := ownerOf(t, ctx, servers, servers[0], "live")
	var alive []*server
	for _, s := range servers {
		if s != owner {
			alive = append(alive, s)
		}
	}
	browser := newBrowser(t)
	token := func(identity, role string) string { return servers[0].joinToken(t, "live", identity, role) }
	alice := newPage(t, browser, lb+"/meet/live?token="+url.QueryEscape(token("alice", "host")))
	clickJoin(t, alice)
	bob := newPage(t, browser, lb+"/meet/live?token="+url.QueryEscape(token("bob", "guest")))
	clickJoin(t, bob)
	for _, page := range []context.Context{alice, bob} {
		waitMedia(t, page, 1, 20*time.Second)
	}
	c := client(t, alive[0])
	if _, err := c.StartRTMPOrRecording(ctx, "live", roomcast.StartParams{Record: true,
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "live", 60*time.Second, "recording started", func(st roomcast.BeamState) bool { return st.Recording.Browser.Running })
	// alice's 2 tracks to bob, the probe and the beam, bob's to alice,
	// the probe and the beam
	testkit.WaitFor(t, 20*time.Second, "the beam in the room on its server", func() bool { return forwarded(t, owner) == 12 })
	time.Sleep(4 * time.Second) // recorded before the loss

	for _, page := range []context.Context{alice, bob} {
		var ok bool
		eval(t, page, "(window.firstPC = window.roomcast.client.pc) !== null", &ok)
	}
	owner.kill()
	killed := time.Now()
	for name, page := range map[string]context.Context{"alice": alice, "bob": bob} {
		waitJS(t, page, 15*time.Second, "window.roomcast.client.pc && window.roomcast.client.pc !== window.firstPC")
		waitMedia(t, page, 1, 15*time.Second)
		took := time.Since(killed)
		t.Logf("%s decodes the other again %v after the room's server was killed", name, took.Round(10*time.Millisecond))
		if took > 10*time.Second {
			t.Errorf("%s took %v to be back in the room; want ≤ 10 s", name, took)
		}
	}
	var back *server // the probe went with the server: 2 × 2 tracks to the other person and the beam
	testkit.WaitFor(t, 15*time.Second, "the beam back in the room, on the same server as the people", func() bool {
		for _, s := range alive {
			if forwarded(t, s) == 8 {
				back = s
				return true
			}
		}
		return false
	})
	t.Logf("room back on a live server, beam included, %v after the kill", time.Since(killed).Round(10*time.Millisecond))
	time.Sleep(4 * time.Second) // recorded after the loss

	stopAt := time.Now()
	if _, err := c.StopRTMPAndRecording(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	final := waitBeam(t, c, "live", 30*time.Second, "stopped", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStopped || st.Recording.Browser.State == roomcast.RecordingStateFailed
	})
	if final.Recording.Browser.State != roomcast.RecordingStateStopped {
		t.Fatalf("the job did not survive the room server: %+v", final.Recording.Browser)
	}
	rec := waitRecording(t, c, "live", 60*time.Second)
	a, err := avcheck.Analyze(ctx, download(t, back, rec))
	if err != nil {
		t.Fatal(err)
	}
	lossAt := killed.Sub(*st.Recording.Browser.StartedAt).Seconds()
	ran := stopAt.Sub(*st.Recording.Browser.StartedAt).Seconds()
	end := a.VideoSpan()
	t.Logf("recording %.1f s of the job's %.1f s, room server lost at %.1f s", end, ran, lossAt)
	if end < ran-1.5 {
		t.Fatalf("the recording is %.1f s long, the job ran %.1f s and lost its room's server at %.1f s: it did not go on", end, ran, lossAt)
	}
	longest := 0.0
	for _, f := range a.Freezes(1, end-0.5, 0) {
		longest = max(longest, f.Duration)
	}
	beeps := a.Beeps()
	gap := 0.0
	for i := 1; i < len(beeps); i++ {
		if beeps[i] > 1 && beeps[i-1] < end-0.5 {
			gap = max(gap, beeps[i]-beeps[i-1])
		}
	}
	t.Logf("longest still picture %.2f s, longest time without a beep %.2f s (%d beeps)", longest, gap, len(beeps))
	if longest > 5 || gap > 5 || len(beeps) < 4 {
		t.Errorf("gap in the recording: picture still %.2f s, sound gone %.2f s (%d beeps); want ≤ 5 s each", longest, gap, len(beeps))
	}
}

// A room server told to stop (SIGTERM) places no new rooms while it
// drains, keeps its rooms' peers until --drain-timeout, then sends them to
// another server, and exits.
func TestDrainingRoomServerMovesItsRooms(t *testing.T) {
	need(t, "chromium")
	servers, _ := startFleet(t, 2)
	ctx := testContext(t, 60*time.Second)
	owner, _ := ownerOf(t, ctx, servers, servers[0], "d")
	other := servers[0]
	if other == owner {
		other = servers[1]
	}
	redirected := make(chan time.Time, 1)
	peer, err := rtcclient.Dial(ctx, rtcclient.Options{URL: wsURL(other), Room: "d", Token: other.joinToken(t, "d", "p", "guest"),
		OnMessage: func(typ string) {
			if typ == "redirect" {
				select {
				case redirected <- time.Now():
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	if at, _ := peer.Server(); at != wsURL(owner) {
		t.Fatalf("the peer joined %s, the room lives on %s", at, wsURL(owner))
	}
	// A person in the room, through the other server's page.
	page := joinPage(t, other, newBrowser(t), "d", "carol", "guest")
	waitJS(t, page, 20*time.Second, "window.roomcast.joined === true && (window.firstPC = window.roomcast.client.pc) !== null")
	stopped := make(chan struct{})
	sent := time.Now()
	go func() { defer close(stopped); owner.stop(t) }()
	testkit.WaitFor(t, 5*time.Second, "a new room placed elsewhere while draining", func() bool {
		c, err := rtcclient.Dial(ctx, rtcclient.Options{URL: wsURL(owner), Room: "fresh", Token: owner.joinToken(t, "fresh", "q", "guest")})
		if err != nil {
			return false
		}
		defer c.Close()
		at, _ := c.Server()
		return at == wsURL(other)
	})
	select {
	case at := <-redirected:
		waited := at.Sub(sent)
		t.Logf("the room's peer was sent on %v after SIGTERM (--drain-timeout 3s)", waited.Round(10*time.Millisecond))
		if waited < 2500*time.Millisecond {
			t.Errorf("peers sent away after %v, before --drain-timeout", waited)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the draining server never sent its room's peer to another server")
	}
	// The person's page follows the redirect: a new media connection on
	// the other server.
	waitJS(t, page, 10*time.Second, "window.roomcast.client.pc && window.roomcast.client.pc !== window.firstPC && window.roomcast.client.store.getState().connection === 'connected'")
	if n := serverMetric(t, other, "roomcast_peers"); n != 1 {
		t.Errorf("the other server has %v peers after the drain, want carol", n)
	}
	<-stopped
	c, err := rtcclient.Dial(ctx, rtcclient.Options{URL: wsURL(other), Room: "d", Token: other.joinToken(t, "d", "p2", "guest")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if at, hops := c.Server(); at != wsURL(other) || hops != 0 {
		t.Errorf("after the drain the room lives on %s (%d redirects), want %s", at, hops, wsURL(other))
	}
}
