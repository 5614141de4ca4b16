// Package recordings is the index of recordings on local disk: one directory
// per recording, named by its id, holding the media files and recording.json
// (a roomcast.Recording). The REST API reads it; workers write it.
package recordings

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// metaName is the file in each recording directory that describes it.
const metaName = "recording.json"

// idBytes is the number of random bytes in an id; ids are their hex (24
// characters).
const idBytes = 12

// Store is the recordings index over one directory. It is safe for
// concurrent use; recording.json is replaced atomically, so readers never see
// a partial file.
type Store struct {
	dir string
	mu  sync.Mutex // serialises read-modify-write of recording.json

	changed func(roomcast.Recording) // after each write of a recording's metadata, in order
	deleted func(id string)          // after a recording is deleted
}

// Notify has changed called with a recording's metadata after each write
// and deleted after each delete (the fleet's index mirrors the store with
// them). Call it once, before the store is written to.
func (s *Store) Notify(changed func(roomcast.Recording), deleted func(id string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed, s.deleted = changed, deleted
}

// Open returns the Store over dir, creating dir if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("recordings: create %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Begin creates a new recording of room in status recording and returns its
// id and the directory its media files go in.
func (s *Store) Begin(room string, kind roomcast.RecordingKind, startedAt time.Time) (id, dir string, err error) {
	raw := make([]byte, idBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("recordings: new id: %w", err)
	}
	id = hex.EncodeToString(raw)
	dir = filepath.Join(s.dir, id)
	if err := os.Mkdir(dir, 0o750); err != nil {
		return "", "", fmt.Errorf("recordings: create %s: %w", dir, err)
	}
	rec := roomcast.Recording{
		ID:        id,
		Room:      room,
		Kind:      kind,
		Status:    roomcast.RecordingPhaseRecording,
		StartedAt: startedAt.UTC(),
		Files:     []roomcast.RecordingFile{},
	}
	if err := writeMeta(dir, rec); err != nil {
		return "", "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		s.changed(rec)
	}
	return id, dir, nil
}

// SetStatus sets the recording's status and error message (empty clears it).
func (s *Store) SetStatus(id string, status roomcast.RecordingPhase, errMsg string) error {
	return s.update(id, func(_ string, rec *roomcast.Recording) error {
		rec.Status = status
		rec.Error = errMsg
		return nil
	})
}

// Finish marks the recording ready with the given duration in seconds and
// indexes its files: every regular file in its directory except
// recording.json and unfinished files (a name containing ".part").
func (s *Store) Finish(id string, duration float64) error {
	return s.update(id, func(dir string, rec *roomcast.Recording) error {
		if err := index(dir, rec); err != nil {
			return err
		}
		rec.Duration = duration
		rec.Status = roomcast.RecordingPhaseReady
		rec.Error = ""
		return nil
	})
}

// Index lists the finished files of the recording (as Finish does) and
// records its duration, but leaves it processing: its files are complete
// and wait to be taken to storage (see Stored).
func (s *Store) Index(id string, duration float64) error {
	return s.update(id, func(dir string, rec *roomcast.Recording) error {
		if err := index(dir, rec); err != nil {
			return err
		}
		rec.Duration = duration
		rec.Status = roomcast.RecordingPhaseProcessing
		rec.Error = ""
		return nil
	})
}

// Stored marks the recording ready with its files at location ("" when
// they stay in the local folder) and returns it.
func (s *Store) Stored(id, location string) (roomcast.Recording, error) {
	var out roomcast.Recording
	err := s.update(id, func(_ string, rec *roomcast.Recording) error {
		rec.Status, rec.Error, rec.Location = roomcast.RecordingPhaseReady, "", location
		out = *rec
		return nil
	})
	return out, err
}

// RemoveMedia deletes the recording's listed files from the local folder
// once they are kept elsewhere; recording.json stays, so it is still listed.
func (s *Store) RemoveMedia(id string) error {
	rec, err := s.Get(id)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range rec.Files {
		if err := os.Remove(filepath.Join(s.dir, id, f.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("recordings: remove %s/%s: %w", id, f.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Get returns the recording with id, or a not_found error.
func (s *Store) Get(id string) (roomcast.Recording, error) {
	if !validID(id) {
		return roomcast.Recording{}, notFound(id)
	}
	rec, err := readMeta(filepath.Join(s.dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, notFound(id)
	}
	return rec, err
}

// List returns the recordings of room (all when room is empty), newest first.
func (s *Store) List(room string) ([]roomcast.Recording, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("recordings: list %s: %w", s.dir, err)
	}
	recs := []roomcast.Recording{}
	for _, e := range entries {
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		rec, err := readMeta(filepath.Join(s.dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // being created or deleted right now
		}
		if err != nil {
			return nil, err
		}
		if room == "" || rec.Room == room {
			recs = append(recs, rec)
		}
	}
	slices.SortFunc(recs, func(a, b roomcast.Recording) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), strings.Compare(a.ID, b.ID))
	})
	return recs, nil
}

// Unfinished returns the recordings still in status recording or
// processing: those a worker was writing when it died, for it to finalise.
func (s *Store) Unfinished() ([]roomcast.Recording, error) {
	return s.WithStatus(roomcast.RecordingPhaseRecording, roomcast.RecordingPhaseProcessing)
}

// WithStatus returns the recordings in any of the given statuses, newest
// first.
func (s *Store) WithStatus(statuses ...roomcast.RecordingPhase) ([]roomcast.Recording, error) {
	all, err := s.List("")
	if err != nil {
		return nil, err
	}
	var out []roomcast.Recording
	for _, rec := range all {
		if slices.Contains(statuses, rec.Status) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// Dir returns the directory of the recording with id, or a not_found error.
// Only well-formed ids are looked up, so id cannot escape the store.
func (s *Store) Dir(id string) (string, error) {
	if !validID(id) {
		return "", notFound(id)
	}
	dir := filepath.Join(s.dir, id)
	if _, err := os.Stat(filepath.Join(dir, metaName)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", notFound(id)
		}
		return "", fmt.Errorf("recordings: %w", err)
	}
	return dir, nil
}

// File returns the path of the file name of recording id. name must be one of
// the recording's listed files; anything else is a not_found error.
func (s *Store) File(id, name string) (string, error) {
	rec, err := s.Get(id)
	if err != nil {
		return "", err
	}
	plain := name != "" && name != "." && name != ".." && name != metaName && !strings.ContainsAny(name, `/\`)
	for _, f := range rec.Files {
		if plain && f.Name == name {
			return filepath.Join(s.dir, id, name), nil
		}
	}
	if InProgress(rec.Status) {
		return "", rcerr.New(rcerr.NotFound, "recording %s is still %s; its files can be downloaded once it is ready", id, rec.Status)
	}
	return "", rcerr.New(rcerr.NotFound, "recording %s has no file %q; its files are listed in GET /v1/recordings/%s", id, name, id)
}

// Delete removes the recording with id and all its files.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir, err := s.Dir(id)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("recordings: delete %s: %w", id, err)
	}
	if s.deleted != nil {
		s.deleted(id)
	}
	return nil
}

// update applies fn to the recording's metadata and writes it back.
func (s *Store) update(id string, fn func(dir string, rec *roomcast.Recording) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir, err := s.Dir(id)
	if err != nil {
		return err
	}
	rec, err := readMeta(dir)
	if err != nil {
		return err
	}
	if err := fn(dir, &rec); err != nil {
		return err
	}
	if err := writeMeta(dir, rec); err != nil {
		return err
	}
	if s.changed != nil {
		s.changed(rec)
	}
	return nil
}

// InProgress reports whether status means a worker still owns the
// recording (recording or processing): it cannot be downloaded or deleted yet.
func InProgress(status roomcast.RecordingPhase) bool {
	return status == roomcast.RecordingPhaseRecording || status == roomcast.RecordingPhaseProcessing
}

func notFound(id string) error {
	return rcerr.New(rcerr.NotFound, "no recording with id %q; list them with GET /v1/recordings", id)
}

// validID reports whether id is idBytes of lowercase hex.
func validID(id string) bool {
	return len(id) == 2*idBytes && strings.Trim(id, "0123456789abcdef") == ""
}

// index sets rec's files and size from what is in dir.
func index(dir string, rec *roomcast.Recording) error {
	files, err := mediaFiles(dir)
	if err != nil {
		return err
	}
	rec.Files, rec.Size = files, 0
	for _, f := range files {
		rec.Size += f.Size
	}
	return nil
}

// mediaFiles lists the finished regular files in dir, sorted by name.
func mediaFiles(dir string) ([]roomcast.RecordingFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("recordings: list files: %w", err)
	}
	files := []roomcast.RecordingFile{}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == metaName || strings.Contains(e.Name(), ".part") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("recordings: stat %s: %w", e.Name(), err)
		}
		files = append(files, roomcast.RecordingFile{Name: e.Name(), Size: info.Size()})
	}
	return files, nil
}

func readMeta(dir string) (roomcast.Recording, error) {
	var rec roomcast.Recording
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if err != nil {
		return rec, fmt.Errorf("recordings: read: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("recordings: decode %s: %w", filepath.Join(dir, metaName), err)
	}
	if rec.Files == nil {
		rec.Files = []roomcast.RecordingFile{}
	}
	return rec, nil
}

// writeMeta replaces dir's recording.json atomically.
func writeMeta(dir string, rec roomcast.Recording) error {
	return WriteJSON(dir, metaName, rec)
}

// WriteJSON replaces dir/name with v as indented JSON, atomically: readers
// see the old file or the new one, never a partial one. The temp file's
// name contains ".part", so Finish never indexes it.
func WriteJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("recordings: encode %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".*.part")
	if err == nil {
		defer os.Remove(tmp.Name()) // a no-op after the rename
		_, err = tmp.Write(b)
		err = errors.Join(err, tmp.Sync(), tmp.Close())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("recordings: write %s: %w", path, err)
	}
	return nil
}

// ContentType is the Content-Type of a recording file, by its name.
func ContentType(name string) string {
	switch path.Ext(name) {
	case ".mp4":
		return "video/mp4"
	case ".json":
		return "application/json"
	case ".webm":
		return "video/webm"
	case ".ogg":
		return "audio/ogg"
	case ".m4a":
		return "audio/mp4"
	case ".jpg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}
