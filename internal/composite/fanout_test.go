package composite

import (
	"testing"
	"time"
)

// The encoder runs while the page joins: nothing it makes before open
// reaches a sink, and the stream begins at the first keyframe after it
// (its pts is the job's start, and the thumbnail's keyframe is not one of
// the joining page's).
func TestFanoutHoldsTheStreamUntilOpen(t *testing.T) {
	f := newFanout(false)
	ch := make(chan frame, 16)
	f.add(ch)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	before := []frame{
		{video: true, key: true, pts: ms(100)},
		{pts: ms(110)},
		{video: true, pts: ms(133)},
	}
	for _, fr := range before {
		f.publish(fr)
	}
	if len(ch) != 0 || f.flowing() {
		t.Fatalf("%d frames passed before open (flowing %v)", len(ch), f.flowing())
	}
	if _, ok := f.latestKey(); ok {
		t.Error("a keyframe of the joining page is the thumbnail's")
	}
	f.open(ms(150))
	after := []frame{
		{video: true, key: true, pts: ms(133)}, // captured before the time open gives: dropped
		{video: true, pts: ms(166)},            // not a start: dropped
		{pts: ms(170)},                         // sound before the first picture: dropped
		{video: true, key: true, pts: ms(200)},
		{pts: ms(210)},
		{video: true, pts: ms(233)},
	}
	for _, fr := range after {
		f.publish(fr)
	}
	var got []time.Duration
	for len(ch) > 0 {
		got = append(got, (<-ch).pts)
	}
	if want := []time.Duration{ms(200), ms(210), ms(233)}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("passed %v, want %v", got, want)
	}
	if start, ok := f.startPTS(); !ok || start != ms(200) {
		t.Errorf("start %v (%v), want 200ms", start, ok)
	}
	if k, ok := f.latestKey(); !ok || k.pts != ms(200) {
		t.Errorf("latest keyframe %v (%v), want the one at 200ms", k.pts, ok)
	}
}

// An audio-only stream begins at its first sound after open.
func TestAudioOnlyFanoutBeginsAtTheFirstSoundAfterOpen(t *testing.T) {
	f := newFanout(true)
	ch := make(chan frame, 4)
	f.add(ch)
	f.publish(frame{key: true, pts: time.Millisecond})
	f.open(0)
	f.publish(frame{key: true, pts: 2 * time.Millisecond})
	if len(ch) != 1 || (<-ch).pts != 2*time.Millisecond {
		t.Fatal("the sound before open passed, or the one after did not")
	}
}

// A stop waits for the encoder to hand over the picture captured at the
// stop (the sound alone does not count), and no longer than its bound.
func TestDrainWaitsForThePictureOfTheStop(t *testing.T) {
	f := newFanout(false)
	f.open(0)
	f.publish(frame{video: true, key: true, pts: time.Second})
	stop := 1500 * time.Millisecond
	handed := make(chan struct{})
	go func() {
		defer close(handed)
		f.publish(frame{pts: 2 * time.Second}) // sound: not a picture
		time.Sleep(100 * time.Millisecond)     // the encode running behind
		f.publish(frame{video: true, pts: stop})
	}()
	waited, ok := f.drainUntil(stop, nil, 5*time.Second)
	<-handed
	if !ok || waited < 50*time.Millisecond {
		t.Errorf("drained %v after %v, want true once the picture came (~100ms)", ok, waited)
	}
	if waited, ok := f.drainUntil(3*time.Second, nil, 50*time.Millisecond); ok || waited < 50*time.Millisecond {
		t.Errorf("drained %v after %v with no picture coming, want false after 50ms", ok, waited)
	}
	done := make(chan struct{})
	close(done)
	if _, ok := f.drainUntil(3*time.Second, done, 5*time.Second); ok {
		t.Error("drained with the encoder gone, want false at once")
	}
}
