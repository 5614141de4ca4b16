package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Webhook events are exactly-once: a transition's events go into the
// record's outbox in the same compare-and-swap as the change, each with an
// id derived from the transition (eventID). Whoever sees a record with an
// outbox (the writer at once, every process through the watch, a restarted
// process in the watch's first values) publishes it with that id as the
// JetStream message id, so duplicates are dropped, and then takes what it
// published out of the record.

// eventID is the same in every process that computes it: the room, the
// revision the transition started from (one writer wins each) and the
// event's place in it.
func eventID(room string, fromRev uint64, i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", room, fromRev, i))
	return "ev_" + hex.EncodeToString(h[:12])
}

// stage adds the events of the transition cur → next to next's outbox
// (after any that are still waiting there).
func stage(room string, cur, next jobs.Record, fromRev uint64, now time.Time) jobs.Record {
	evs := jobs.Events(room, cur, next, now)
	next.Outbox = slices.Clone(next.Outbox)
	for i, ev := range evs {
		ev.ID = eventID(room, fromRev, i)
		next.Outbox = append(next.Outbox, ev)
	}
	return next
}

// backupAfter is how old an outbox must be before a process other than
// its writer flushes it: the writer normally clears it within milliseconds.
const backupAfter = 3 * time.Second

// stale says whether an outbox has waited longer than backupAfter.
func stale(outbox []roomcast.Event, now time.Time) bool {
	return len(outbox) > 0 && now.Sub(outbox[0].At) > backupAfter
}

// flush publishes outbox and takes what was published out of room's record.
// A failure leaves the events in the record for the next flush.
func (s *Store) flush(ctx context.Context, room string, outbox []roomcast.Event) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sent := map[string]bool{}
	for _, ev := range outbox {
		if err := s.events.Publish(ctx, ev); err != nil {
			s.log.Warn("webhook event not queued yet; it stays in the room's outbox", "event", ev.Event, "room", room, "err", err)
			break // keep the order: later events wait for this one
		}
		sent[ev.ID] = true
	}
	if len(sent) == 0 {
		return
	}
	_, _, err := s.Update(ctx, room, func(r jobs.Record) (jobs.Record, error) {
		r.Outbox = slices.DeleteFunc(slices.Clone(r.Outbox), func(ev roomcast.Event) bool { return sent[ev.ID] })
		return r, nil
	})
	if err != nil {
		// Harmless: the next flush publishes them again and JetStream drops
		// the copies.
		s.log.Debug("could not clear the room's outbox", "room", room, "err", err)
	}
}
