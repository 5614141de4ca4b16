package recindex

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/rcerr"
)

// chunk is how much of a file one NATS reply carries (under NATS's 1 MB
// default payload limit).
const chunk = 256 << 10

// Reply headers of the owner's answers.
const (
	hdrSize    = "Roomcast-Size"
	hdrCode    = "Roomcast-Error-Code"
	hdrMessage = "Roomcast-Error-Message"
)

func subject(owner, op string) string {
	return "roomcast.recordings." + hex.EncodeToString([]byte(owner)) + "." + op
}

// request is a file read (name, from offset) or a delete of recording ID.
type request struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Offset int64  `json:"offset,omitempty"`
}

// serve answers the fleet's reads and deletes of this process's files.
func (x *Index) serve() error {
	for op, h := range map[string]func(request) ([]byte, nats.Header, error){"file": x.readChunk, "delete": x.deleteLocal} {
		sub, err := x.nc.Subscribe(subject(x.owner, op), func(m *nats.Msg) {
			var req request
			var data []byte
			hdr := nats.Header{}
			err := json.Unmarshal(m.Data, &req)
			if err == nil {
				var h2 nats.Header
				data, h2, err = h(req)
				for k, v := range h2 {
					hdr[k] = v
				}
			}
			if err != nil {
				code, msg := rcerr.Public(err)
				hdr.Set(hdrCode, string(code))
				hdr.Set(hdrMessage, msg)
				data = nil
			}
			m.RespondMsg(&nats.Msg{Data: data, Header: hdr})
		})
		if err != nil {
			x.Close()
			return err
		}
		x.subs = append(x.subs, sub)
	}
	return nil
}

func (x *Index) readChunk(req request) ([]byte, nats.Header, error) {
	f, size, err := x.local.Open(req.ID, req.Name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	buf := make([]byte, chunk)
	n, err := f.ReadAt(buf, req.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	return buf[:n], nats.Header{hdrSize: []string{strconv.FormatInt(size, 10)}}, nil
}

func (x *Index) deleteLocal(req request) ([]byte, nats.Header, error) {
	return nil, nil, x.local.Delete(req.ID)
}

// ask sends op for e to its owner and returns the answer.
func (x *Index) ask(ctx context.Context, e entry, op string, req *request) (*nats.Msg, error) {
	if req == nil {
		req = &request{ID: e.ID}
	}
	b, _ := json.Marshal(req)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := x.nc.RequestWithContext(rctx, subject(e.Owner, op), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, rcerr.New(rcerr.Unavailable, "recording %s is kept by %s, which is not running now; its files come back with it", e.ID, e.Owner)
	}
	if err != nil {
		return nil, rcerr.Wrap(rcerr.Unavailable, err, "could not reach "+e.Owner+", which keeps recording "+e.ID+"; try again")
	}
	if code := m.Header.Get(hdrCode); code != "" {
		return nil, rcerr.New(rcerr.Code(code), "%s", m.Header.Get(hdrMessage))
	}
	return m, nil
}

// Open returns file name of recording id and its size: this process's
// file, or the owner's read over NATS as it is sent.
func (x *Index) Open(ctx context.Context, id, name string) (io.ReadCloser, int64, error) {
	e, err := x.entry(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if e.Owner == x.owner {
		f, n, err := x.local.Open(id, name)
		if err != nil {
			return nil, 0, err
		}
		return f, n, nil
	}
	r := &remoteFile{x: x, ctx: ctx, e: e, name: name}
	if err := r.fetch(); err != nil {
		return nil, 0, err
	}
	return r, r.size, nil
}

// remoteFile reads a file from its owner, a chunk at a time.
type remoteFile struct {
	x      *Index
	ctx    context.Context
	e      entry
	name   string
	offset int64 // of buf's end
	size   int64
	buf    []byte
}

func (r *remoteFile) fetch() error {
	m, err := r.x.ask(r.ctx, r.e, "file", &request{ID: r.e.ID, Name: r.name, Offset: r.offset})
	if err != nil {
		return err
	}
	if r.size, err = strconv.ParseInt(m.Header.Get(hdrSize), 10, 64); err != nil {
		return rcerr.Wrap(rcerr.Unavailable, err, "an unreadable answer from "+r.e.Owner)
	}
	r.buf = m.Data
	r.offset += int64(len(m.Data))
	return nil
}

func (r *remoteFile) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.offset >= r.size {
			return 0, io.EOF
		}
		if err := r.fetch(); err != nil {
			return 0, err
		}
		if len(r.buf) == 0 {
			return 0, io.ErrUnexpectedEOF // the owner's file shrank
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *remoteFile) Close() error { return nil }
