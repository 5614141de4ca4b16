package jobs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Cost is what a job takes of a worker: CPU in cores and memory in MB.
type Cost struct {
	CPU      float64
	MemoryMB int
}

// Add returns c + d.
func (c Cost) Add(d Cost) Cost { return Cost{CPU: c.CPU + d.CPU, MemoryMB: c.MemoryMB + d.MemoryMB} }

// Fits says whether c is within limit.
func (c Cost) Fits(limit Cost) bool { return c.CPU <= limit.CPU+1e-9 && c.MemoryMB <= limit.MemoryMB }

// CostModel is the cost of a composite job by the height of its output:
// a job costs the first class at or above its height (the largest class
// past the last one).
type CostModel []CostClass

// CostClass is the cost of a job whose output is at most Height lines.
type CostClass struct {
	Height int
	Cost   Cost
}

// DefaultCostModel is measured (docs/BENCHMARKS.md, "CPU per job by
// resolution" with the 60 fps grab: 360p 48 % of a core, 720p 82 %, each
// with Chromium, ffmpeg, Xvfb, PulseAudio and roomcast) with headroom;
// memory (a warm sandbox is ~470 MB) and 1080p are estimates until
// measured under a job.
var DefaultCostModel = CostModel{
	{Height: 360, Cost: Cost{CPU: 0.6, MemoryMB: 400}},
	{Height: 720, Cost: Cost{CPU: 0.9, MemoryMB: 500}},
	{Height: 1080, Cost: Cost{CPU: 1.5, MemoryMB: 700}},
}

// AudioOnlyCost is the cost of an audio-only composite job: Chromium
// playing the room's sound and an AAC encode, no capture or video encode
// (docs/BENCHMARKS.md, "Audio-only jobs").
var AudioOnlyCost = Cost{CPU: 0.08, MemoryMB: 350}

// Of is the cost of a job with params p (a track recording job is the
// SFU's and costs nothing here).
func (m CostModel) Of(k Kind, p roomcast.StartParams) Cost {
	if k == KindTracks || len(m) == 0 {
		return Cost{}
	}
	if p.AudioOnly {
		return AudioOnlyCost
	}
	h := roomcast.DefaultResolution.Height
	if p.Resolution != nil {
		h = p.Resolution.Height
	}
	for _, c := range m {
		if h <= c.Height {
			return c.Cost
		}
	}
	return m[len(m)-1].Cost
}

// String is the model as ParseCostModel reads it.
func (m CostModel) String() string {
	parts := make([]string, len(m))
	for i, c := range m {
		parts[i] = fmt.Sprintf("%dp=%s:%d", c.Height, strconv.FormatFloat(c.Cost.CPU, 'f', -1, 64), c.Cost.MemoryMB)
	}
	return strings.Join(parts, ",")
}

// ParseCostModel reads "360p=0.6:400,720p=0.8:500": per output height,
// cores and MB.
func ParseCostModel(s string) (CostModel, error) {
	var m CostModel
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		res, cost, ok := strings.Cut(part, "=")
		cpu, mem, ok2 := strings.Cut(cost, ":")
		h, err1 := strconv.Atoi(strings.TrimSuffix(res, "p"))
		c, err2 := strconv.ParseFloat(cpu, 64)
		mb, err3 := strconv.Atoi(mem)
		if !ok || !ok2 || err1 != nil || err2 != nil || err3 != nil || h <= 0 || c <= 0 || mb < 0 {
			return nil, fmt.Errorf("job cost %q: want HEIGHTp=CORES:MB, e.g. 720p=0.8:500", part)
		}
		m = append(m, CostClass{Height: h, Cost: Cost{CPU: c, MemoryMB: mb}})
	}
	slices.SortFunc(m, func(a, b CostClass) int { return a.Height - b.Height })
	return m, nil
}
