package recordings

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "recordings"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func begin(t *testing.T, s *Store, room string, at time.Time) (id, dir string) {
	t.Helper()
	id, dir, err := s.Begin(room, roomcast.RecordingKindComposite, at)
	if err != nil {
		t.Fatal(err)
	}
	return id, dir
}

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, want rcerr.Code) {
	t.Helper()
	if code, msg := rcerr.Public(err); code != want || msg == "" {
		t.Errorf("err = %v, want code %s with a message", err, want)
	}
}

func TestLifecycle(t *testing.T) {
	s := openStore(t)
	id, dir := begin(t, s, "demo", t0)
	if len(id) != 24 || filepath.Dir(dir) != s.dir {
		t.Fatalf("Begin() = %q, %q", id, dir)
	}
	rec, err := s.Get(id)
	if err != nil || rec.Status != roomcast.RecordingPhaseRecording || rec.Room != "demo" || !rec.StartedAt.Equal(t0) || rec.Files == nil {
		t.Fatalf("Get() after Begin = %+v, %v", rec, err)
	}
	writeFile(t, dir, "out.mp4", "0123456789")
	writeFile(t, dir, "out.fmp4.part", "partial")
	writeFile(t, dir, "manifest.json", "{}")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(id, roomcast.RecordingPhaseProcessing, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(id, 12.5); err != nil {
		t.Fatal(err)
	}
	rec, err = s.Get(id)
	wantFiles := []roomcast.RecordingFile{{Name: "manifest.json", Size: 2}, {Name: "out.mp4", Size: 10}}
	if err != nil || rec.Status != roomcast.RecordingPhaseReady || rec.Duration != 12.5 || rec.Size != 12 || !slices.Equal(rec.Files, wantFiles) {
		t.Fatalf("Get() after Finish = %+v, %v", rec, err)
	}
	if p, err := s.File(id, "out.mp4"); err != nil || p != filepath.Join(dir, "out.mp4") {
		t.Errorf("File(out.mp4) = %q, %v", p, err)
	}
	if err := s.SetStatus(id, roomcast.RecordingPhaseUploadFailed, "bucket missing"); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.Get(id); rec.Status != roomcast.RecordingPhaseUploadFailed || rec.Error != "bucket missing" {
		t.Errorf("Get() after SetStatus = %+v", rec)
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory still there after Delete: %v", err)
	}
	_, err = s.Get(id)
	wantCode(t, err, rcerr.NotFound)
	wantCode(t, s.Delete(id), rcerr.NotFound)
	wantCode(t, s.SetStatus(id, roomcast.RecordingPhaseFailed, ""), rcerr.NotFound)
}

func TestListFilterAndOrder(t *testing.T) {
	s := openStore(t)
	a1, _ := begin(t, s, "a", t0)
	b1, _ := begin(t, s, "b", t0.Add(time.Minute))
	a2, _ := begin(t, s, "a", t0.Add(2*time.Minute))
	// Stray entries are not recordings.
	writeFile(t, s.dir, "notes.txt", "x")
	if err := os.Mkdir(filepath.Join(s.dir, "0123456789abcdef01234567"), 0o750); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		room string
		want []string
	}{
		{"", []string{a2, b1, a1}},
		{"a", []string{a2, a1}},
		{"b", []string{b1}},
		{"nobody", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.room, func(t *testing.T) {
			recs, err := s.List(tt.room)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, r := range recs {
				got = append(got, r.ID)
			}
			if recs == nil || !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %v (nil %t), want %v", tt.room, got, recs == nil, tt.want)
			}
		})
	}
}

func TestRejectsTraversal(t *testing.T) {
	s := openStore(t)
	id, dir := begin(t, s, "demo", t0)
	writeFile(t, dir, "out.mp4", "data")
	if err := s.Finish(id, 1); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(s.dir), "x", "outside")
	tests := []struct{ name, id, file string }{
		{"parent", id, "../x"},
		{"dotdot", id, ".."},
		{"dot", id, "."},
		{"subpath", id, "a/b"},
		{"backslash", id, `a\b`},
		{"metadata", id, "recording.json"},
		{"empty", id, ""},
		{"absent", id, "other.mp4"},
		{"id traversal", "../" + id, "out.mp4"},
		{"id dotdot", "..", "x"},
		{"id uppercase", "0123456789ABCDEF01234567", "out.mp4"},
		{"id short", id[:10], "out.mp4"},
		{"unknown id", "0123456789abcdef01234567", "out.mp4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.File(tt.id, tt.file)
			wantCode(t, err, rcerr.NotFound)
			if p != "" {
				t.Errorf("File() = %q, want no path", p)
			}
			_, err = s.Dir(tt.id)
			if tt.id != id {
				wantCode(t, err, rcerr.NotFound)
			}
		})
	}
}

func TestFileBeforeFinish(t *testing.T) {
	s := openStore(t)
	id, dir := begin(t, s, "demo", t0)
	writeFile(t, dir, "out.mp4", "data")
	_, err := s.File(id, "out.mp4")
	wantCode(t, err, rcerr.NotFound)
}

func TestConcurrentSetStatus(t *testing.T) {
	s := openStore(t)
	id, dir := begin(t, s, "demo", t0)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			if err := s.SetStatus(id, roomcast.RecordingPhaseFailed, fmt.Sprintf("failure %d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rec, err := s.Get(id)
	if err != nil || rec.Status != roomcast.RecordingPhaseFailed || rec.Error == "" {
		t.Errorf("Get() = %+v, %v", rec, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != metaName {
		t.Errorf("directory holds %v, want only %s (no temp files left)", entries, metaName)
	}
}

func TestUnfinished(t *testing.T) {
	s := openStore(t)
	recording, _ := begin(t, s, "a", t0)
	processing, _ := begin(t, s, "a", t0.Add(time.Second))
	ready, _ := begin(t, s, "b", t0.Add(2*time.Second))
	failed, _ := begin(t, s, "b", t0.Add(3*time.Second))
	for _, err := range []error{
		s.SetStatus(processing, roomcast.RecordingPhaseProcessing, ""),
		s.Finish(ready, 3),
		s.SetStatus(failed, roomcast.RecordingPhaseFailed, "encoder crashed"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A restarted worker reopens the same directory.
	s2, err := Open(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s2.Unfinished()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.ID)
	}
	if want := []string{processing, recording}; !slices.Equal(got, want) {
		t.Errorf("Unfinished() = %v, want %v", got, want)
	}
}

func TestIndexStoredRemoveMedia(t *testing.T) {
	s := openStore(t)
	id, dir := begin(t, s, "demo", t0)
	writeFile(t, dir, "composite.mp4", "0123456789")
	if err := s.Index(id, 3.5); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Get(id)
	if err != nil || rec.Status != roomcast.RecordingPhaseProcessing || rec.Size != 10 || rec.Duration != 3.5 || len(rec.Files) != 1 {
		t.Fatalf("Get() after Index = %+v, %v", rec, err)
	}
	if got, err := s.WithStatus(roomcast.RecordingPhaseProcessing); err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("WithStatus(processing) = %+v, %v", got, err)
	}
	if got, _ := s.WithStatus(roomcast.RecordingPhaseUploadFailed); len(got) != 0 {
		t.Fatalf("WithStatus(upload_failed) = %+v", got)
	}
	rec, err = s.Stored(id, "s3://bucket/p/"+id+"/")
	if err != nil || rec.Status != roomcast.RecordingPhaseReady || rec.Location != "s3://bucket/p/"+id+"/" {
		t.Fatalf("Stored() = %+v, %v", rec, err)
	}
	if err := s.RemoveMedia(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "composite.mp4")); !os.IsNotExist(err) {
		t.Errorf("composite.mp4 still on disk: %v", err)
	}
	// Still listed, with its files, from recording.json.
	if got, err := s.List("demo"); err != nil || len(got) != 1 || got[0].Size != 10 || len(got[0].Files) != 1 {
		t.Errorf("List() after RemoveMedia = %+v, %v", got, err)
	}
	if err := s.RemoveMedia(id); err != nil {
		t.Errorf("RemoveMedia twice: %v", err)
	}
}
