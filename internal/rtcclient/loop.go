package rtcclient

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

func (c *Client) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *Client) read(ctx context.Context, m *message) error {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, m)
}

func (c *Client) readLoop(ctx context.Context) {
	defer close(c.done)
	defer c.shutdown()
	for {
		var m message
		if err := c.read(ctx, &m); err != nil {
			c.fail(err)
			return
		}
		if c.opts.OnMessage != nil {
			c.opts.OnMessage(m.Type)
		}
		if err := c.handle(ctx, &m); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *Client) handle(ctx context.Context, m *message) error {
	switch m.Type {
	case "offer":
		return c.answer(ctx, m.SDP)
	case "candidate":
		if m.Candidate == nil {
			return nil
		}
		if c.pc.RemoteDescription() == nil {
			c.mu.Lock()
			c.queued = append(c.queued, *m.Candidate)
			c.mu.Unlock()
			return nil
		}
		return c.pc.AddICECandidate(*m.Candidate)
	case "peer-joined", "peer-updated":
		c.mu.Lock()
		c.peers[m.Peer.ID] = m.Peer
		c.mu.Unlock()
	case "peer-left":
		var id string
		json.Unmarshal(m.ID, &id)
		c.mu.Lock()
		delete(c.peers, id)
		c.mu.Unlock()
	case "ok", "error":
		c.resolve(m)
	}
	return nil
}

func (c *Client) answer(ctx context.Context, sdp string) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("rtcclient: set offer: %w", err)
	}
	c.mu.Lock()
	queued := c.queued
	c.queued = nil
	c.mu.Unlock()
	for _, cand := range queued {
		if err := c.pc.AddICECandidate(cand); err != nil {
			return err
		}
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("rtcclient: create answer: %w", err)
	}
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("rtcclient: set answer: %w", err)
	}
	return c.send(ctx, map[string]any{"type": "answer", "sdp": ans.SDP})
}

// resolve completes the request an ok or error answers. An error without an
// id is fatal and ends the session.
func (c *Client) resolve(m *message) {
	id, _ := strconv.ParseInt(string(m.ID), 10, 64)
	var err error
	if m.Type == "error" {
		err = &Error{Code: m.Code, Message: m.Message}
	}
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok {
		ch <- err
	} else if err != nil {
		c.fail(err)
	}
}
