package composite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
)

// posterName is a composite recording's picture, listed with its files.
const posterName = "poster.jpg"

// pictureTimeout bounds one ffmpeg decode of a single picture.
const pictureTimeout = 10 * time.Second

// writePoster saves one picture of the recording mp4 as out: a third of
// the way in, at most 3 s (past the first frames, which may be the page
// still joining).
func writePoster(mp4, out string, dur time.Duration) error {
	at := min(dur/3, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), pictureTimeout)
	defer cancel()
	tmp := out + ".part.jpg"
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64),
		"-i", mp4, "-frames:v", "1", "-q:v", "4", "-f", "image2", "-y", tmp)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("composite: poster: %w: %s", err, bytes.TrimSpace(b))
	}
	return os.Rename(tmp, out)
}

// thumbnails makes JPEGs of the output's latest keyframe, decoding one
// picture only when a newer keyframe came since the last (the encoder
// sends one every 2 s): the thumbnail of a running job, with no second
// encoder.
type thumbnails struct {
	mu     sync.Mutex // one decode at a time
	keyPTS time.Duration
	jpeg   []byte
}

// latest returns a JPEG of f's latest keyframe.
func (t *thumbnails) latest(ctx context.Context, f *Fanout) ([]byte, error) {
	key, ok := f.latestKey()
	if !ok {
		return nil, fmt.Errorf("composite: no picture yet")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.jpeg != nil && t.keyPTS == key.pts {
		return t.jpeg, nil
	}
	var annexB bytes.Buffer
	tr := f.knownTracks()
	for _, n := range append([][]byte{tr.sps, tr.pps}, key.au...) {
		if len(n) == 0 {
			continue
		}
		annexB.Write([]byte{0, 0, 0, 1})
		annexB.Write(n)
	}
	ctx, cancel := context.WithTimeout(ctx, pictureTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-f", "h264", "-i", "pipe:0",
		"-frames:v", "1", "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", "pipe:1")
	cmd.Stdin = &annexB
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil || out.Len() == 0 {
		return nil, fmt.Errorf("composite: thumbnail: %v: %s", err, bytes.TrimSpace(errOut.Bytes()))
	}
	t.keyPTS, t.jpeg = key.pts, out.Bytes()
	return t.jpeg, nil
}

// keyframe is the latest keyframe the fan-out passed on.
type keyframe struct {
	pts time.Duration
	au  [][]byte
}

// Thumbnail returns a JPEG of job jobID's output (its latest keyframe)
// while the job runs here (control.Thumbnailer).
func (r *Runner) Thumbnail(ctx context.Context, jobID string) ([]byte, error) {
	v, ok := live.Load(jobID)
	if !ok {
		return nil, rcerr.New(rcerr.NotFound, "the job has no picture yet (it is still starting)")
	}
	fan := v.(*liveJob).fan
	b, err := fan.thumbs.latest(ctx, fan)
	if err != nil {
		return nil, rcerr.Wrap(rcerr.NotFound, err, "the job has no picture yet")
	}
	return b, nil
}
