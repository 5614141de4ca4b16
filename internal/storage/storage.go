// Package storage takes finished recordings to where they are kept: the
// local folder they were written to (Local), or an S3-compatible bucket
// (S3). Recordings are always written to the local folder first; the
// Uploader moves a finished one to its Store, retries with backoff, and
// never removes a local file before its copy is stored.
package storage

import (
	"context"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Store is where a finished recording's files are kept.
type Store interface {
	// Put stores the listed files of rec, found in dir, and returns their
	// location (roomcast.Recording.Location); "" means they stay in dir.
	// It may be called again for the same recording after a failure.
	Put(ctx context.Context, rec roomcast.Recording, dir string) (location string, err error)
}

// Local keeps recordings in the local folder they were written to: the
// default when no bucket is configured.
type Local struct{}

// Put leaves the files where they are.
func (Local) Put(context.Context, roomcast.Recording, string) (string, error) { return "", nil }
