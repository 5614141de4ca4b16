// Package mediatime converts between durations and the tick clocks media
// timestamps count in (90 kHz video, 48 kHz audio, RTP clocks), without
// overflowing for recordings of any length.
package mediatime

import "time"

// Duration is ticks of a clock of rate ticks per second as a duration.
func Duration(ticks int64, rate uint32) time.Duration {
	c := int64(rate)
	return time.Duration(ticks/c)*time.Second + time.Duration(ticks%c)*time.Second/time.Duration(c)
}

// Ticks is d on a clock of rate ticks per second, rounded to the nearest
// tick: the inverse of Duration for durations it produced.
func Ticks(d time.Duration, rate uint32) int64 {
	c := int64(rate)
	return int64(d/time.Second)*c + (int64(d%time.Second)*c+int64(time.Second)/2)/int64(time.Second)
}
