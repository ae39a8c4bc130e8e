package state

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

// OpenDefault opens the caller's default store (DefaultDir) with a Cleanup
// that destroys a stale record's cgroup.
func OpenDefault() (*Store, error) {
	s, err := Open(DefaultDir(os.Geteuid(), os.Getenv, os.Stat))
	if err != nil {
		return nil, err
	}
	s.Cleanup = DestroyCgroup
	return s, nil
}

// DestroyCgroup removes r's cgroup and kills what is left in it. A record
// without a cgroup, or whose cgroup is already gone, is fine.
func DestroyCgroup(r *Record) error {
	if r.Cgroup == nil || r.Cgroup.Manager == "" {
		return nil
	}
	g, err := cgroup.Open(*r.Cgroup)
	if g == nil {
		if errors.Is(err, cgroup.ErrNotExist) {
			return nil
		}
		return err
	}
	return g.Destroy()
}

// ErrNoCgroup says a sandbox runs without a cgroup, so it has no
// statistics.
var ErrNoCgroup = errors.New("sandbox has no cgroup")

// Sample is one reading of a sandbox's counters.
type Sample struct {
	At    time.Time
	Stats cgroup.Stats
}

// Measure reads r's cgroup counters now.
func Measure(r *Record) (Sample, error) {
	if r.Cgroup == nil || r.Cgroup.Manager == "" {
		return Sample{}, ErrNoCgroup
	}
	g, err := cgroup.Open(*r.Cgroup)
	if err != nil {
		return Sample{}, fmt.Errorf("opening cgroup of %s: %w", r.Ref(), err)
	}
	st, err := g.Stats()
	if err != nil {
		return Sample{}, fmt.Errorf("reading cgroup of %s: %w", r.Ref(), err)
	}
	return Sample{At: time.Now(), Stats: st}, nil
}

// CPUPercent is the CPU the sandbox used between two samples, in percent
// of one core (200 means two cores busy), as docker stats counts it. It is
// 0 when the samples are in the wrong order or at the same instant.
func CPUPercent(prev, cur Sample) float64 {
	wall := cur.At.Sub(prev.At)
	if wall <= 0 || cur.Stats.CPUUsageNS < prev.Stats.CPUUsageNS {
		return 0
	}
	return float64(cur.Stats.CPUUsageNS-prev.Stats.CPUUsageNS) / float64(wall.Nanoseconds()) * 100
}

// MemPercent is memory usage in percent of the limit; 0 without a limit.
func MemPercent(s cgroup.Stats) float64 {
	if s.MemoryLimit == 0 {
		return 0
	}
	return float64(s.MemoryUsage) / float64(s.MemoryLimit) * 100
}
