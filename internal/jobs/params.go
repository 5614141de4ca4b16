// Package jobs holds the rules of streaming and recording a room: which
// start parameters are valid, what a start or stop does to the room's state
// (the seed's rules), and the job a worker runs. It does no I/O of its own
// beyond the DNS lookup of the meeting URL check.
package jobs

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/streamurl"
	"github.com/roomcast/roomcast/internal/urlpolicy"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// MaxDestinations is the most RTMP URLs one start may name.
const MaxDestinations = 3

// MaxJobDuration is the longest maxDuration a start may ask for when the
// server sets no cap of its own.
const MaxJobDuration = 24 * time.Hour

// Policy is the server's part of start validation: which meeting URLs a bot
// may open and how long a job may last.
type Policy struct {
	// URLs says which meeting URLs a bot may open (and, in the job, every
	// URL its browser loads after that).
	URLs urlpolicy.Policy
	// MaxDuration is the most a start's maxDuration may ask for (the
	// server's --max-duration); zero means MaxJobDuration.
	MaxDuration time.Duration
}

// Validate checks p against SPEC §2 and returns it normalised (default
// resolution filled in). Every error is invalid_argument and names the field;
// stream keys never appear in messages.
func Validate(ctx context.Context, p roomcast.StartParams, pol Policy) (roomcast.StartParams, error) {
	if len(p.RTMPURLs) == 0 && !p.Record {
		return p, invalid("nothing to start: give rtmpURLs (streaming), record: true (recording), or both")
	}
	if err := validateRTMPURLs(p.RTMPURLs); err != nil {
		return p, err
	}
	if err := validateMaxDuration(p.MaxDuration, pol.MaxDuration); err != nil {
		return p, err
	}
	if err := validatePicture(&p); err != nil {
		return p, err
	}
	if p.MeetingURL != "" {
		if err := pol.Check(ctx, p.MeetingURL); err != nil {
			return p, err
		}
	}
	return p, nil
}

func invalid(format string, args ...any) error {
	return rcerr.New(rcerr.InvalidArgument, format, args...)
}

func validateRTMPURLs(urls []string) error {
	if len(urls) > MaxDestinations {
		return invalid("rtmpURLs: at most %d URLs, got %d", MaxDestinations, len(urls))
	}
	seen := map[string]int{}
	for i, raw := range urls {
		field := fmt.Sprintf("rtmpURLs[%d]", i)
		if _, err := streamurl.Parse(raw); err != nil {
			// The message names the URL only redacted: it may hold a key.
			return invalid("%s: %v (%s)", field, err, streamurl.Redact(raw))
		}
		if j, dup := seen[raw]; dup {
			return invalid("%s: same URL as rtmpURLs[%d]", field, j)
		}
		seen[raw] = i
	}
	return nil
}

func validateResolution(r roomcast.Resolution) error {
	w, h := r.Width, r.Height
	if w%2 != 0 || h%2 != 0 {
		return invalid("resolution: width and height must be even, got %dx%d", w, h)
	}
	if w >= h {
		if w < 480 || w > 1920 || h < 270 || h > 1080 {
			return invalid("resolution: landscape %dx%d is out of bounds; width 480–1920, height 270–1080", w, h)
		}
		return nil
	}
	if w < 270 || w > 1080 || h < 480 || h > 1920 {
		return invalid("resolution: portrait %dx%d is out of bounds; width 270–1080, height 480–1920", w, h)
	}
	return nil
}

// validateMaxDuration checks a start's maxDuration (seconds; 0 is unset)
// against the server's cap.
func validateMaxDuration(sec int, limit time.Duration) error {
	if limit <= 0 {
		limit = MaxJobDuration
	}
	if sec < 0 {
		return invalid("maxDuration: must be a positive number of seconds, got %d", sec)
	}
	if most := int64(limit / time.Second); int64(sec) > most {
		return invalid("maxDuration: %d seconds is more than this server allows (%d seconds, --max-duration)", sec, most)
	}
	return nil
}

// Check refuses meeting URLs a bot must not open: other schemes than
// http(s), and any host the URL policy refuses (see urlpolicy).
func (pol Policy) Check(ctx context.Context, raw string) error {
	if len(raw) > 4096 {
		return invalid("meetingURL: longer than 4096 characters")
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "" {
		return invalid("meetingURL: scheme must be http or https, got %q", u.Scheme)
	}
	if err := pol.URLs.CheckURL(ctx, raw); err != nil {
		return invalid("meetingURL: %v", err)
	}
	return nil
}

// validatePicture checks and fills in the picture's parameters: the
// default resolution and layout, or none at all for an audio-only job
// (one that names either is refused rather than silently ignored).
func validatePicture(p *roomcast.StartParams) error {
	if p.AudioOnly {
		switch {
		case p.Resolution != nil:
			return invalid("resolution: an audioOnly job has no picture; leave resolution out")
		case p.Layout != "":
			return invalid("layout: an audioOnly job has no picture; leave layout out")
		}
		return nil
	}
	if p.Resolution == nil {
		r := roomcast.DefaultResolution
		p.Resolution = &r
	}
	if err := validateResolution(*p.Resolution); err != nil {
		return err
	}
	if p.Layout == "" {
		p.Layout = roomcast.LayoutGrid
	}
	return ValidateLayout(p.Layout)
}

// ValidateLayout checks a layout (start parameter or change).
func ValidateLayout(l roomcast.Layout) error {
	switch l {
	case roomcast.LayoutGrid, roomcast.LayoutSpeaker, roomcast.LayoutSingleSpeaker:
		return nil
	}
	return invalid("layout: %q is not a layout; want grid, speaker or single-speaker", l)
}
