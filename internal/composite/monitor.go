package composite

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/activity"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Thresholds of the live monitor.
const (
	loudDB       = -50.0 // an output window louder than this carries sound
	soundGrace   = 1500 * time.Millisecond
	lostAfter    = 2 * time.Second // room sound with a silent output this long: lost
	frozenAfter  = 3 * time.Second // no picture change this long while the room sends video
	blackAfter   = 2 * time.Second
	changedYDif  = 0.05 // mean luma change (64x36) above which two pictures differ
	darkYAvg     = 20.0
	uniformRange = 12.0
)

// observation is what the monitor knows at one instant.
type observation struct {
	now time.Time
	// Output sound: when the last window was read and when one was loud.
	audioAt, loudAt time.Time
	// Output picture: when the last one was read, when it last changed,
	// since when it has been uniformly dark (zero: it is not).
	videoAt, changedAt, darkSince time.Time
	// The room, as its SFU reports it.
	room      activity.Report
	roomKnown bool
	soundAt   time.Time // last report with sound
}

// judge turns an observation into health values (Since is set by the
// caller). Without a room report, silence is unknown, not quiet: the
// monitor cannot tell a quiet room from a lost sound.
func judge(o observation) (roomcast.AudioHealth, roomcast.VideoHealth) {
	audio := roomcast.AudioUnknown
	switch {
	case o.audioAt.IsZero():
	case o.now.Sub(o.loudAt) < soundGrace:
		audio = roomcast.AudioOK
	case !o.roomKnown:
	case o.now.Sub(o.soundAt) >= soundGrace:
		audio = roomcast.AudioQuiet
	case o.now.Sub(o.loudAt) >= lostAfter:
		audio = roomcast.AudioLost
	default: // the room's sound is on its way: the output lags the room
		audio = roomcast.AudioOK
	}
	video := roomcast.VideoUnknown
	sending := o.roomKnown && o.room.VideoFPS >= 1
	switch {
	case o.videoAt.IsZero():
	case sending && !o.darkSince.IsZero() && o.now.Sub(o.darkSince) >= blackAfter:
		video = roomcast.VideoBlack
	case sending && o.now.Sub(o.changedAt) >= frozenAfter:
		video = roomcast.VideoFrozen
	default:
		video = roomcast.VideoOK
	}
	return audio, video
}

// monitor watches one job's output (the encoder's taps) and the room's
// activity, and keeps the job's health.
type monitor struct {
	room func() (activity.Report, bool)

	mu      sync.Mutex
	opened  bool          // watching: the stream began (open)
	from    time.Duration // output pts from which it watches
	obs     observation
	levelDB float64
	skew    time.Duration // the page's A/V playout skew (PlayoutSkew)
	skewOK  bool
	health  roomcast.Health
}

// setSkew records the page's latest A/V playout skew.
func (m *monitor) setSkew(d time.Duration) {
	m.mu.Lock()
	m.skew, m.skewOK = d, true
	m.mu.Unlock()
}

func newMonitor(room func() (activity.Report, bool), now time.Time) *monitor {
	return &monitor{room: room, levelDB: math.Inf(-1),
		health: roomcast.Health{Audio: roomcast.AudioUnknown, Video: roomcast.VideoUnknown, Since: now}}
}

// open starts judging the output from pts from on (the encoder runs
// while the page joins: its silent, dark pictures of the joining page
// would read as sound lost and a black picture).
func (m *monitor) open(from time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opened, m.from = true, from
	m.health.Since = now
}

// watchingLocked says whether the output window kv (at its pts_time) is
// judged; m.mu is held.
func (m *monitor) watchingLocked(kv map[string]string) bool {
	return m.opened && time.Duration(num(kv["pts_time"], 0)*float64(time.Second)) >= m.from
}

// update re-judges the health at now; changed says whether it changed.
func (m *monitor) update(now time.Time) (h roomcast.Health, changed bool) {
	var r activity.Report
	ok := false
	if m.room != nil {
		r, ok = m.room()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.obs.now, m.obs.room, m.obs.roomKnown = now, r, ok
	if ok && r.Sound {
		m.obs.soundAt = now
	}
	a, v := judge(m.obs)
	if a != m.health.Audio || v != m.health.Video {
		m.health = roomcast.Health{Audio: a, Video: v, Since: now}
		changed = true
	}
	return m.health, changed
}

// current returns the health.
func (m *monitor) current() roomcast.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.health
}

// jobHealth is everything the monitor knows, for /metrics.
func (m *monitor) jobHealth(job, room string) JobHealth {
	m.mu.Lock()
	defer m.mu.Unlock()
	return JobHealth{Job: job, Room: room, Health: m.health, LevelDB: m.levelDB, Skew: m.skew, SkewOK: m.skewOK}
}

// readLevels reads the encoder's sound-level tap until it closes.
func (m *monitor) readLevels(r io.Reader) {
	metadataLines(r, func(kv map[string]string) {
		db, ok := kv["lavfi.astats.Overall.RMS_level"]
		if !ok {
			return
		}
		v := num(db, math.Inf(-1))
		now := time.Now()
		m.mu.Lock()
		if !m.watchingLocked(kv) {
			m.mu.Unlock()
			return
		}
		m.obs.audioAt, m.levelDB = now, v
		if v > loudDB {
			m.obs.loudAt = now
		}
		m.mu.Unlock()
	})
}

// readPictures reads the encoder's picture tap until it closes.
func (m *monitor) readPictures(r io.Reader) {
	first := true
	metadataLines(r, func(kv map[string]string) {
		ydif, avg := num(kv["lavfi.signalstats.YDIF"], 0), num(kv["lavfi.signalstats.YAVG"], 0)
		uniform := num(kv["lavfi.signalstats.YHIGH"], 0)-num(kv["lavfi.signalstats.YLOW"], 0) < uniformRange
		now := time.Now()
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.watchingLocked(kv) {
			return
		}
		m.obs.videoAt = now
		if first || ydif > changedYDif {
			m.obs.changedAt = now
		}
		first = false
		switch dark := avg < darkYAvg && uniform; {
		case !dark:
			m.obs.darkSince = time.Time{}
		case m.obs.darkSince.IsZero():
			m.obs.darkSince = now
		}
	})
}

// metadataLines parses ffmpeg's metadata print output ("frame:N pts:P
// pts_time:T" then key=value lines) and calls frame with each frame's keys
// (and T as "pts_time").
func metadataLines(r io.Reader, frame func(map[string]string)) {
	sc := bufio.NewScanner(r)
	var kv map[string]string
	flush := func() {
		if kv != nil {
			frame(kv)
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "frame:") {
			flush()
			kv = map[string]string{}
			if _, t, ok := strings.Cut(line, "pts_time:"); ok {
				kv["pts_time"] = strings.TrimSpace(t)
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && kv != nil {
			kv[k] = v
		}
	}
	flush()
}

// num parses an ffmpeg metadata value ("-inf" too: digital silence), or
// returns otherwise when there is none.
func num(s string, otherwise float64) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return otherwise
	}
	return v
}
