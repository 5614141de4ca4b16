package avcheck

import (
	"math"
	"slices"
)

// Flashes returns the times of the frames where the picture turns bright:
// the first frame above the midpoint between the file's dark level (the
// median frame) and its bright level (the 99th percentile), after a frame
// below it. Nil when the file has no such contrast (less than 40 levels).
func (a *Analysis) Flashes() []float64 {
	if len(a.Frames) < 2 {
		return nil
	}
	lum := make([]float64, len(a.Frames))
	for i, f := range a.Frames {
		lum[i] = f.YAvg
	}
	dark, bright := Percentile(lum, 50), Percentile(lum, 99)
	if bright-dark < 40 {
		return nil
	}
	mid := (dark + bright) / 2
	var out []float64
	for i := 1; i < len(a.Frames); i++ {
		if a.Frames[i].YAvg > mid && a.Frames[i-1].YAvg <= mid {
			out = append(out, a.Frames[i].T)
		}
	}
	return out
}

// Beeps returns the times where sound starts: the first window within
// 10 dB of the file's loud level (the 99th percentile of its windows) after
// at least 50 ms below that. Nil when the file's loudest windows are under
// -60 dB (silence).
func (a *Analysis) Beeps() []float64 {
	loud := a.LoudLevel()
	if loud < -60 {
		return nil
	}
	thr := loud - 10
	quiet := 0
	var out []float64
	for _, w := range a.Audio {
		if w.RMS >= thr {
			if quiet >= int(0.05/WindowSeconds) {
				out = append(out, w.T)
			}
			quiet = 0
			continue
		}
		quiet++
	}
	return out
}

// LoudLevel is the RMS level (dB) of the file's loud windows: the 99th
// percentile of all 5 ms windows. -120 for a file without audio.
func (a *Analysis) LoudLevel() float64 {
	if len(a.Audio) == 0 {
		return -120
	}
	rms := make([]float64, len(a.Audio))
	for i, w := range a.Audio {
		rms[i] = w.RMS
	}
	return Percentile(rms, 99)
}

// ToneLevel is the level of the beeps as a tone is specified (AES17: a
// full-scale sine reads 0 dBFS, so its RMS + 3.01 dB): the median of the
// windows within 10 dB of LoudLevel. -120 when there is no sound.
func (a *Analysis) ToneLevel() float64 {
	loud := a.LoudLevel()
	if loud < -60 {
		return -120
	}
	var in []float64
	for _, w := range a.Audio {
		if w.RMS >= loud-10 {
			in = append(in, w.RMS)
		}
	}
	return Percentile(in, 50) + 3.01
}

// LevelAt is the loudest 5 ms window (RMS, dB) in [from, to).
func (a *Analysis) LevelAt(from, to float64) float64 {
	best := -120.0
	for _, w := range a.Audio {
		if w.T >= from && w.T < to {
			best = max(best, w.RMS)
		}
	}
	return best
}

// Offsets pairs each flash with the nearest beep within ±window seconds and
// returns beep − flash for each pair (positive: the sound is late).
func Offsets(flashes, beeps []float64, window float64) []float64 {
	var out []float64
	for _, f := range flashes {
		best := math.Inf(1)
		for _, b := range beeps {
			if d := b - f; math.Abs(d) <= window && math.Abs(d) < math.Abs(best) {
				best = d
			}
		}
		if !math.IsInf(best, 1) {
			out = append(out, best)
		}
	}
	return out
}

// Lags takes the times of events a source makes once a second (its
// flashes or its beeps) and returns how much later than the first each one
// came, less the whole seconds between them: the latency of the events'
// path over the job, relative to its start (a missed event leaves no gap).
// The A/V offset moves by the beeps' lag less the flashes', so the two say
// which path moved when the offset did.
func Lags(events []float64) []float64 {
	out := make([]float64, len(events))
	for i, t := range events {
		d := t - events[0]
		out[i] = d - math.Round(d)
	}
	return out
}

// distinctThreshold is the mean luma change under which a frame repeats the
// one before (an encoder's repeated frame reads 0–0.3; the synthetic
// source's moving bar reads > 1).
const distinctThreshold = 0.3

// Distinct returns the times of the frames that differ from the one before
// (the first frame counts), in [from, to).
func (a *Analysis) Distinct(from, to float64) []float64 {
	var out []float64
	for i, f := range a.Frames {
		if f.T < from || f.T >= to {
			continue
		}
		if i == 0 || f.YDif >= distinctThreshold {
			out = append(out, f.T)
		}
	}
	return out
}

// Freeze is a span in which the picture did not change.
type Freeze struct {
	At, Duration float64 // seconds
}

// Freezes returns the spans in [from, to) longer than min between two
// distinct frames (repeated frames and missing ones alike).
func (a *Analysis) Freezes(from, to, min float64) []Freeze {
	d := a.Distinct(from, to)
	var out []Freeze
	for i := 1; i < len(d); i++ {
		if gap := d[i] - d[i-1]; gap > min {
			out = append(out, Freeze{At: d[i-1], Duration: gap})
		}
	}
	return out
}

// Blank counts the frames in [from, to) that are one uniform colour.
func (a *Analysis) Blank(from, to float64) int {
	n := 0
	for _, f := range a.Frames {
		if f.T >= from && f.T < to && f.YRange < 12 {
			n++
		}
	}
	return n
}

// VideoSpan is the time from the first to the last frame plus one frame.
func (a *Analysis) VideoSpan() float64 {
	n := len(a.Frames)
	if n < 2 {
		return 0
	}
	return a.Frames[n-1].T - a.Frames[0].T + (a.Frames[n-1].T-a.Frames[0].T)/float64(n-1)
}

// Percentile is the p-th percentile (0–100) of v by linear interpolation;
// NaN for an empty slice. v is not changed.
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}
