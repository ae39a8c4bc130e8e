package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/state"
)

// This file wires sandbox/state into nook run and the root command; the
// commands that read records are ps.go, stats.go, stop.go, kill.go, gc.go.

// collectStale removes the records (and cgroups) of sandboxes whose
// launcher died. Every nook call runs it (nook run through Store.Create),
// but for a warm launch (sandbox/fastlaunch.go), which never starts Go; it
// is silent and creates nothing.
func collectStale() {
	dir := state.DefaultDir(os.Geteuid(), os.Getenv, os.Stat)
	if _, err := os.Lstat(dir); err != nil {
		return
	}
	if s, err := state.OpenDefault(); err == nil {
		s.Collect()
	}
}

// liveRecords returns the running sandboxes. Files in the state directory
// that are not records are mentioned on stderr.
func liveRecords() ([]*state.Record, error) {
	s, err := state.OpenDefault()
	if err != nil {
		return nil, err
	}
	live, bad, err := s.Live()
	for _, b := range bad {
		fmt.Fprintf(os.Stderr, "nook: warning: ignoring %v ('nook gc' removes it)\n", b)
	}
	return live, err
}

// tracker keeps the state record of the sandbox nook run starts.
type tracker struct {
	store   *state.Store
	rec     state.Record
	created bool
}

// track prepares the record of pl. A store that cannot be opened costs a
// warning, not the run: the sandbox just does not show in nook ps.
func track(pl *sandbox.Plan) *tracker {
	t := &tracker{rec: state.Record{App: pl.App, Hostname: pl.Spec.Hostname}}
	s, err := state.OpenDefault()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nook: warning: %v; nook ps will not list %s\n", err, pl.App)
		return t
	}
	if t.rec.ID, err = state.NewID(); err != nil {
		fmt.Fprintf(os.Stderr, "nook: warning: %v; nook ps will not list %s\n", err, pl.App)
		return t
	}
	t.store = s
	return t
}

// limits records the limits applied: those of cg, nil when none.
func (t *tracker) limits(cg *sandbox.Cgroup) {
	if cg != nil {
		t.rec.Limits = cg.Limits
	}
}

// started writes the record once init exists; it is sandbox.Options.Started.
// Run calls it again when it had to start another init stage: the record
// is then written anew.
func (t *tracker) started(in sandbox.Instance) {
	if t.store == nil {
		return
	}
	if t.created {
		t.done()
		t.created = false
	}
	var err error
	if t.rec.Init, err = state.ProcOf(in.InitPID); err != nil {
		// Init has ended already (ProcOf fails for nothing else): its
		// setup failed, and Run reports why. There is no sandbox to list.
		t.store = nil
		return
	}
	t.rec.Launcher, err = state.Self()
	if in.Cgroup != nil {
		ref := in.Cgroup.Ref()
		t.rec.Cgroup = &ref
	}
	if err == nil {
		t.rec.Started = time.Now().UTC()
		err = t.store.Create(&t.rec)
		t.created = err == nil
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nook: warning: recording %s: %v; nook ps will not list it\n", t.rec.App, err)
		t.store = nil
	}
}

// done removes the record when the sandbox has ended.
func (t *tracker) done() {
	if t.store == nil {
		return
	}
	if err := t.store.Remove(t.rec.ID); err != nil {
		fmt.Fprintln(os.Stderr, "nook: warning:", err)
	}
}
