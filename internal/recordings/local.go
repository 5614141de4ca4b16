package recordings

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Local is a Store as the API reads it (api.Recordings): this process's
// recordings only.
type Local struct{ *Store }

// List is Store.List.
func (l Local) List(_ context.Context, room string) ([]roomcast.Recording, error) {
	return l.Store.List(room)
}

// Get is Store.Get.
func (l Local) Get(_ context.Context, id string) (roomcast.Recording, error) { return l.Store.Get(id) }

// Delete is Store.Delete.
func (l Local) Delete(_ context.Context, id string) error { return l.Store.Delete(id) }

// Open opens file name of recording id (an *os.File) and returns its size.
func (l Local) Open(_ context.Context, id, name string) (io.ReadCloser, int64, error) {
	f, n, err := l.Store.Open(id, name)
	if err != nil {
		return nil, 0, err
	}
	return f, n, nil
}

// Open opens file name of recording id (one of its listed files) and
// returns it with its size; a file that vanished is not_found.
func (s *Store) Open(id, name string) (*os.File, int64, error) {
	path, err := s.File(id, name)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, rcerr.Wrap(rcerr.NotFound, err, "recording "+id+" has lost file "+name)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("recordings: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("recordings: %w", err)
	}
	return f, info.Size(), nil
}
