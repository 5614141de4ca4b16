// Package webhook tells backends what happened: events are published to a
// JetStream stream by whichever process made the change (so each is
// published once), and delivered to every --webhook-url by a durable
// consumer per URL, one event at a time (in order), signed, retried with
// backoff until the endpoint answers 2xx.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

const (
	stream  = "ROOMCAST_EVENTS"
	subject = "roomcast.events"
)

// Publisher queues events for delivery.
type Publisher struct {
	js  jetstream.JetStream
	log *slog.Logger
}

// NewPublisher creates the event stream if needed.
func NewPublisher(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*Publisher, error) {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        stream,
		Description: "roomcast: webhook events",
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		MaxAge:      24 * time.Hour,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: event stream: %w", err)
	}
	return &Publisher{js: js, log: log}, nil
}

// Publish assigns the event an id and time (if unset) and queues it. The id
// is the message id JetStream de-duplicates on: publishing the same event
// twice (from two processes, or a retry) queues it once.
func (p *Publisher) Publish(ctx context.Context, ev roomcast.Event) error {
	if ev.ID == "" {
		b := make([]byte, 12)
		rand.Read(b)
		ev.ID = "ev_" + hex.EncodeToString(b)
	}
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	body, err := json.Marshal(ev)
	if err == nil {
		_, err = p.js.Publish(ctx, subject, body, jetstream.WithMsgID(ev.ID))
	}
	if err != nil {
		return fmt.Errorf("webhook: queue %s for %q: %w", ev.Event, ev.Room, err)
	}
	return nil
}

// Counters of this process's webhook deliveries, for /metrics.
var (
	Delivered      atomic.Uint64 // events a receiver accepted (2xx)
	FailedAttempts atomic.Uint64 // posts that failed and were retried
)

// Deliverer posts events to one URL.
type Deliverer struct {
	URL        string
	Secret     []byte
	Client     *http.Client
	MaxBackoff time.Duration // default 1 min
	log        *slog.Logger
	cons       jetstream.Consumer
}

// NewDeliverer attaches to the URL's durable consumer (created on first
// use: it starts with events published from then on).
func NewDeliverer(ctx context.Context, js jetstream.JetStream, url string, secret []byte, log *slog.Logger) (*Deliverer, error) {
	sum := sha256.Sum256([]byte(url))
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       "webhook-" + hex.EncodeToString(sum[:8]),
		Description:   "webhook deliveries to " + logging.Redact(url),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1, // one at a time: events arrive in order
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: consumer: %w", err)
	}
	return &Deliverer{URL: url, Secret: secret, Client: &http.Client{Timeout: 10 * time.Second},
		MaxBackoff: time.Minute, log: log.With("webhook", logging.Redact(url)), cons: cons}, nil
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := d.cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		for msg := range batch.Messages() {
			d.deliver(ctx, msg)
		}
		cancel()
	}
}

// deliver posts one event until it is accepted, backing off between tries;
// the message stays in progress so later events wait behind it.
func (d *Deliverer) deliver(ctx context.Context, msg jetstream.Msg) {
	var ev struct {
		ID    string `json:"id"`
		Event string `json:"event"`
	}
	json.Unmarshal(msg.Data(), &ev)
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := d.post(ctx, ev.ID, msg.Data())
		if err == nil {
			Delivered.Add(1)
			msg.Ack()
			return
		}
		if ctx.Err() == nil {
			FailedAttempts.Add(1)
		}
		d.log.Warn("webhook delivery failed; retrying", "event", ev.Event, "id", ev.ID, "attempt", attempt, "in", backoff, "err", err)
		msg.InProgress()
		select {
		case <-ctx.Done():
			msg.Nak()
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, d.MaxBackoff)
	}
}

func (d *Deliverer) post(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "roomcast-webhook/1")
	req.Header.Set(roomcast.EventIDHeader, id)
	req.Header.Set(roomcast.SignatureHeader, roomcast.Sign(d.Secret, time.Now(), body))
	resp, err := d.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}
