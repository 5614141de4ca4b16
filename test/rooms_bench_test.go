package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtcclient"
)

// BenchmarkRoomsAcrossServers measures placement over room servers: rooms
// (one pion publisher, 300 kbit/s video + Opus, and two viewers, each
// joining through the next server) opened on two servers, then a third
// server added and as many rooms again; it logs each server's rooms and
// forwarded tracks after each phase. Then each iteration times a join
// (socket open to joined) through the room's own server and through
// another one, which answers with a redirect.
//
//	CI=true go test -run '^$' -bench RoomsAcrossServers -benchtime 20x ./test/
func BenchmarkRoomsAcrossServers(b *testing.B) {
	need(b)
	servers, natsURL := startFleet(b, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	const perPhase = 8
	dial := func(via *server, room, identity, role string) *rtcclient.Client {
		c, err := rtcclient.Dial(ctx, rtcclient.Options{URL: wsURL(via), Room: room, Token: via.joinToken(b, room, identity, role)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	next := 0
	open := func(phase string) {
		for i := range perPhase {
			room := fmt.Sprintf("%s-%d", phase, i)
			pub := dial(servers[next%len(servers)], room, "pub", "guest")
			if _, err := rtcclient.PublishSynthetic(ctx, pub, rtcclient.Synthetic{VideoBitrate: 300_000}); err != nil {
				b.Fatal(err)
			}
			dial(servers[(next+1)%len(servers)], room, "v1", "viewer")
			dial(servers[(next+2)%len(servers)], room, "v2", "viewer")
			next++
		}
	}
	report := func(phase string, rooms int) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var parts []string
			total, fwd := 0, 0
			for i, s := range servers {
				r, f := int(serverMetric(b, s, "roomcast_rooms")), forwarded(b, s)
				total, fwd = total+r, fwd+f
				parts = append(parts, fmt.Sprintf("server %d: %d rooms, %d forwarded tracks", i+1, r, f))
			}
			if total == rooms && fwd == rooms*4 || time.Now().After(deadline) {
				b.Logf("%s: %s", phase, strings.Join(parts, "; "))
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	open("a")
	report("2 servers, 8 rooms", perPhase)
	// The new server announces itself as it starts (before /healthz).
	servers = append(servers, joinFleet(b, servers[0], natsURL))
	open("b")
	report("3rd server added, 8 rooms more", 2*perPhase)

	owner, _ := ownerOf(b, ctx, servers, servers[0], "a-0")
	other := servers[slices.IndexFunc(servers, func(s *server) bool { return s != owner })]
	var direct, redirected time.Duration
	i := 0
	for b.Loop() {
		for _, via := range []*server{owner, other} {
			start := time.Now()
			c, err := rtcclient.Dial(ctx, rtcclient.Options{URL: wsURL(via), Room: "a-0", Token: via.joinToken(b, "a-0", fmt.Sprintf("j%d", i), "viewer")})
			took := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
			if via == owner {
				direct += took
			} else {
				redirected += took
			}
		}
		i++
	}
	b.ReportMetric(float64(direct.Microseconds())/1000/float64(b.N), "ms-join-owner")
	b.ReportMetric(float64(redirected.Microseconds())/1000/float64(b.N), "ms-join-redirected")
}
