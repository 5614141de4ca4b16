// Package rtmpclient publishes to an RTMP(S) ingest. It speaks the command
// sequence OBS and ffmpeg send (connect, releaseStream, FCPublish,
// createStream, publish) on gortmplib's chunk and message layers, and reads
// the server's answers leniently: ingests send commands gortmplib's client
// refuses outright (ffmpeg's listen mode answers FCPublish with a bare
// "onFCPublish", which ended every connection). Failures are classified
// (Kind) so a person can act on them: a refused stream key is not a
// network outage.
package rtmpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/roomcast/roomcast/internal/streamurl"
)

// streamID is the message stream publish and media use: gortmplib's Writer
// writes media on it (its 0x1000000 is stream 1 in the chunk header's
// little-endian field), and every ingest's first createStream returns 1.
const streamID = 0x1000000

// Conn is a publishing connection; it is a gortmplib.Conn, so a
// gortmplib.Writer writes media on it.
type Conn struct {
	nc  net.Conn
	bc  *bytecounter.ReadWriter
	mrw *message.ReadWriter
}

// Options tune Dial.
type Options struct {
	// TLS is the base TLS config for rtmps (ServerName is always the URL's
	// host, so SNI and verification use it).
	TLS *tls.Config
}

// Dial connects to u and publishes its key: when it returns, media may be
// written. ctx bounds the whole exchange.
func Dial(ctx context.Context, u streamurl.URL, opts Options) (*Conn, error) {
	addr, host := address(u)
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Kind: Unreachable, Addr: addr, Err: err}
	}
	if u.Scheme == "rtmps" {
		cfg := &tls.Config{}
		if opts.TLS != nil {
			cfg = opts.TLS.Clone()
		}
		cfg.ServerName = host
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, classifyTLS(addr, err)
		}
		nc = tc
	}
	c := &Conn{nc: nc}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	err = c.publish(u, addr)
	if !stop() || ctx.Err() != nil {
		err = &Error{Kind: Unreachable, Addr: addr, Err: fmt.Errorf("no answer in time: %w", context.Cause(ctx))}
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func address(u streamurl.URL) (addr, host string) {
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, "1935"
		if u.Scheme == "rtmps" {
			port = "443"
		}
	}
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, port), host
}

// publish runs the handshake and the command sequence.
func (c *Conn) publish(u streamurl.URL, addr string) error {
	c.bc = bytecounter.NewReadWriter(c.nc)
	if _, _, err := handshake.DoClient(c.bc, false, false); err != nil {
		return &Error{Kind: Protocol, Addr: addr, Err: fmt.Errorf("handshake: %w", err)}
	}
	c.mrw = message.NewReadWriter(c.bc, c.bc, false)
	for _, m := range []message.Message{
		&message.SetWindowAckSize{Value: 2500000},
		&message.SetPeerBandwidth{Value: 2500000, Type: 2},
		&message.SetChunkSize{Value: 65536},
		command(3, 0, "connect", 1, amf0.Object{
			{Key: "app", Value: u.App},
			{Key: "type", Value: "nonprivate"},
			{Key: "flashVer", Value: "FMLE/3.0 (compatible; FMSc/1.0)"},
			{Key: "tcUrl", Value: u.TCURL()},
		}),
	} {
		if err := c.mrw.Write(m); err != nil {
			return &Error{Kind: Lost, Addr: addr, Err: err}
		}
	}
	if _, err := c.await(addr, "connect", 1); err != nil {
		return err
	}
	for _, m := range []message.Message{
		command(3, 0, "releaseStream", 2, nil, u.Key),
		command(3, 0, "FCPublish", 3, nil, u.Key),
		command(3, 0, "createStream", 4, nil),
	} {
		if err := c.mrw.Write(m); err != nil {
			return &Error{Kind: Lost, Addr: addr, Err: err}
		}
	}
	res, err := c.await(addr, "createStream", 4)
	if err != nil {
		return err
	}
	if id, _ := lastNumber(res.Arguments); id != 1 {
		return &Error{Kind: Protocol, Addr: addr, Err: fmt.Errorf("createStream returned stream %v, want 1", id)}
	}
	if err := c.mrw.Write(command(4, streamID, "publish", 5, nil, u.Key, "live")); err != nil {
		return &Error{Kind: Lost, Addr: addr, Err: err}
	}
	_, err = c.await(addr, "publish", 5)
	return err
}

func command(csid byte, msid uint32, name string, id int, args ...any) *message.CommandAMF0 {
	return &message.CommandAMF0{ChunkStreamID: csid, MessageStreamID: msid, Name: name, CommandID: id, Arguments: args}
}

// await reads until the answer to command id arrives: _result, or for
// publish an onStatus. _error, an error status, or the server hanging up
// after publish is a refusal.
func (c *Conn) await(addr, what string, id int) (*message.CommandAMF0, error) {
	for {
		msg, err := c.Read()
		if err != nil {
			if what == "publish" && isHangup(err) {
				return nil, &Error{Kind: Rejected, Addr: addr, Err: fmt.Errorf("the server closed the connection on publish")}
			}
			return nil, &Error{Kind: Lost, Addr: addr, Err: fmt.Errorf("waiting for the answer to %s: %w", what, err)}
		}
		cmd, ok := msg.(*message.CommandAMF0)
		if !ok {
			continue
		}
		switch {
		case cmd.Name == "_error" && (cmd.CommandID == id || cmd.CommandID == 0):
			return nil, &Error{Kind: Rejected, Addr: addr, Err: fmt.Errorf("%s refused: %s", what, describe(cmd))}
		case cmd.Name == "_result" && cmd.CommandID == id && what != "publish":
			return cmd, nil
		case cmd.Name == "onStatus" && what == "publish":
			level, code := status(cmd)
			if level == "error" || code != "" && code != "NetStream.Publish.Start" {
				return nil, &Error{Kind: Rejected, Addr: addr, Err: fmt.Errorf("publish refused: %s", describe(cmd))}
			}
			if code == "NetStream.Publish.Start" {
				return cmd, nil
			}
		}
	}
}

// Read reads the next message the server sends, skipping commands that do
// not decode (a server's quirk must not end the session) while the
// connection itself is fine.
func (c *Conn) Read() (message.Message, error) {
	for skipped := 0; ; skipped++ {
		msg, err := c.mrw.Read()
		if err == nil || isConnErr(err) || skipped >= 16 {
			return msg, err
		}
	}
}

// Write sends a message.
func (c *Conn) Write(msg message.Message) error { return c.mrw.Write(msg) }

// BytesReceived and BytesSent count the connection's bytes.
func (c *Conn) BytesReceived() uint64 { return c.bc.Reader.Count() }

// BytesSent counts the bytes written.
func (c *Conn) BytesSent() uint64 { return c.bc.Writer.Count() }

// NetConn is the connection underneath (deadlines).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close hangs up.
func (c *Conn) Close() error { return c.nc.Close() }

func isConnErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || isHangup(err) || errors.Is(err, net.ErrClosed)
}
