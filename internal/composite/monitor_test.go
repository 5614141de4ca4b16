package composite

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/activity"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	sending := activity.Report{VideoFPS: 30}
	cases := []struct {
		name  string
		o     observation
		audio roomcast.AudioHealth
		video roomcast.VideoHealth
	}{
		{"nothing measured yet", observation{}, roomcast.AudioUnknown, roomcast.VideoUnknown},
		{"sound out, picture moving",
			observation{audioAt: now, loudAt: ago(200 * time.Millisecond), videoAt: now, changedAt: now, room: sending, roomKnown: true, soundAt: now},
			roomcast.AudioOK, roomcast.VideoOK},
		{"silent out, silent room: quiet",
			observation{audioAt: now, loudAt: ago(time.Minute), videoAt: now, changedAt: now, room: sending, roomKnown: true, soundAt: ago(10 * time.Second)},
			roomcast.AudioQuiet, roomcast.VideoOK},
		{"silent out, room has sound for a moment: on its way, not lost yet",
			observation{audioAt: now, loudAt: ago(time.Second + 600*time.Millisecond), videoAt: now, changedAt: now, room: sending, roomKnown: true, soundAt: now},
			roomcast.AudioOK, roomcast.VideoOK},
		{"silent out 2 s while the room has sound: lost",
			observation{audioAt: now, loudAt: ago(3 * time.Second), videoAt: now, changedAt: now, room: sending, roomKnown: true, soundAt: now},
			roomcast.AudioLost, roomcast.VideoOK},
		{"silent out, no room report: unknown, never quiet",
			observation{audioAt: now, loudAt: ago(time.Minute), videoAt: now, changedAt: now},
			roomcast.AudioUnknown, roomcast.VideoOK},
		{"no change for 3 s while the room sends video: frozen",
			observation{audioAt: now, loudAt: now, videoAt: now, changedAt: ago(4 * time.Second), room: sending, roomKnown: true, soundAt: now},
			roomcast.AudioOK, roomcast.VideoFrozen},
		{"no change, nobody sends video: ok (avatars)",
			observation{audioAt: now, loudAt: now, videoAt: now, changedAt: ago(time.Minute), roomKnown: true, soundAt: now},
			roomcast.AudioOK, roomcast.VideoOK},
		{"uniform dark for 2 s while the room sends video: black",
			observation{audioAt: now, loudAt: now, videoAt: now, changedAt: now, darkSince: ago(2 * time.Second), room: sending, roomKnown: true, soundAt: now},
			roomcast.AudioOK, roomcast.VideoBlack},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.now = now
			if a, v := judge(c.o); a != c.audio || v != c.video {
				t.Errorf("judge = %s/%s, want %s/%s", a, v, c.audio, c.video)
			}
		})
	}
}

// TestMonitorReadsFFmpegMetadata: the taps' print format (ffmpeg 5.1
// metadata/ametadata mode=print) drives the monitor, and a change of health
// is reported once, with its time.
func TestMonitorReadsFFmpegMetadata(t *testing.T) {
	room := activity.Report{Sound: true, VideoFPS: 30}
	m := newMonitor(func() (activity.Report, bool) { return room, true }, time.Now())
	m.open(0, time.Now())
	m.readLevels(strings.NewReader("frame:0    pts:0       pts_time:0\nlavfi.astats.Overall.RMS_level=-18.5\n" +
		"frame:1    pts:24000   pts_time:0.5\nlavfi.astats.Overall.RMS_level=-inf\n"))
	m.readPictures(strings.NewReader("frame:0    pts:0       pts_time:0\nlavfi.signalstats.YAVG=80.1\nlavfi.signalstats.YDIF=0.000\nlavfi.signalstats.YLOW=16\nlavfi.signalstats.YHIGH=200\n" +
		"frame:1    pts:1       pts_time:0.5\nlavfi.signalstats.YAVG=81.0\nlavfi.signalstats.YDIF=2.5\nlavfi.signalstats.YLOW=16\nlavfi.signalstats.YHIGH=200\n"))
	if db := m.jobHealth("j", "r").LevelDB; !math.IsInf(db, -1) {
		t.Errorf("level %v after a -inf window, want -inf", db)
	}
	now := time.Now()
	h, changed := m.update(now)
	if !changed || h.Audio != roomcast.AudioOK || h.Video != roomcast.VideoOK || !h.Since.Equal(now) {
		t.Fatalf("first update: %+v changed=%v; want ok/ok since now (a loud window was just read)", h, changed)
	}
	if _, changed := m.update(now.Add(500 * time.Millisecond)); changed {
		t.Error("an update without news reported a change")
	}
	h, changed = m.update(now.Add(5 * time.Second))
	if !changed || h.Audio != roomcast.AudioLost || h.Video != roomcast.VideoFrozen {
		t.Errorf("5 s later, with the room still sounding and sending: %+v, want lost/frozen", h)
	}
}

// The encoder runs while the page joins: what it makes before the stream
// begins (a silent, dark page) is not judged, so the job does not open
// with "lost" and "black" and a beam.warning.
func TestMonitorJudgesOnlyTheStream(t *testing.T) {
	room := activity.Report{Sound: true, VideoFPS: 30}
	m := newMonitor(func() (activity.Report, bool) { return room, true }, time.Now())
	silentDark := func(at string) string {
		return "frame:0    pts:0       pts_time:" + at + "\nlavfi.astats.Overall.RMS_level=-inf\n" +
			"lavfi.signalstats.YAVG=1\nlavfi.signalstats.YDIF=0\nlavfi.signalstats.YLOW=0\nlavfi.signalstats.YHIGH=1\n"
	}
	m.readLevels(strings.NewReader(silentDark("0.1"))) // before open
	m.readPictures(strings.NewReader(silentDark("0.1")))
	m.open(900*time.Millisecond, time.Now())
	m.readLevels(strings.NewReader(silentDark("0.5"))) // after open, captured before the stream's start
	m.readPictures(strings.NewReader(silentDark("0.5")))
	if h, _ := m.update(time.Now().Add(5 * time.Second)); h.Audio != roomcast.AudioUnknown || h.Video != roomcast.VideoUnknown {
		t.Errorf("health %+v from the joining page's output, want unknown/unknown until the stream's own", h)
	}
	m.readLevels(strings.NewReader("frame:2    pts:48000   pts_time:1.0\nlavfi.astats.Overall.RMS_level=-18\n"))
	if h, _ := m.update(time.Now()); h.Audio != roomcast.AudioOK {
		t.Errorf("audio %s after a loud window of the stream, want ok", h.Audio)
	}
}
