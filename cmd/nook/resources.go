package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/profiles"
	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/state"
)

// resourceFlags are nook run's limit flags. They override the profile's
// [resources] table key by key.
type resourceFlags struct {
	values            map[string]*string
	manager           string
	ignoreUnsupported bool
	// weights are the profile's cpu_weight and io_weight after the flags:
	// the plan carries them in OCI's v1 units, io_weight with loss.
	weights profiles.Resources
}

// resourceHelp is each flag's usage; the word in backquotes names its value.
var resourceHelp = map[string]string{
	"memory":      "hard memory limit: a `SIZE` such as 512M or 2G",
	"memory_swap": "memory plus swap, a `SIZE` of at least --memory; 0 means no swap",
	"cpus":        "CPU quota in `CORES`, as in 1.5",
	"cpuset":      "`CPUS` the app may run on, as in 0-1,3",
	"cpu_weight":  "relative CPU share, a `WEIGHT` from 1 to 10000 (100 is every group's; Docker's -c 512 is 50)",
	"pids":        "most processes and threads at once, a `NUMBER`",
	"io_weight":   "relative IO share, a `WEIGHT` from 1 to 10000 (100 is every group's)",
}

func (f *resourceFlags) register(c *cobra.Command) {
	f.values = map[string]*string{}
	for _, k := range profiles.ResourceKeys {
		f.values[k] = c.Flags().String(strings.ReplaceAll(k, "_", "-"), "", resourceHelp[k]+"; overrides the profile")
	}
	c.Flags().StringVar(&f.manager, "cgroup-manager", cgroup.Auto, "`MANAGER` that applies limits: auto, systemd or cgroupfs")
	c.Flags().BoolVar(&f.ignoreUnsupported, "ignore-unsupported-limits", false, "run without the limits this host cannot apply, with a warning, instead of refusing")
}

// defaultResourceFlags are nook run's limit flags when none is given, as
// register leaves them (see plainRun).
func defaultResourceFlags() *resourceFlags {
	return &resourceFlags{manager: cgroup.Auto}
}

// given returns the limit flags that were given: key -> value.
func (f *resourceFlags) given() map[string]string {
	given := map[string]string{}
	for k, v := range f.values {
		if *v != "" {
			given[k] = *v
		}
	}
	return given
}

// apply overrides p's resources with the flags that were given.
func (f *resourceFlags) apply(p *profiles.Profile) error {
	if err := profiles.ApplyResources(&p.Resources, f.given()); err != nil {
		return err
	}
	f.weights = p.Resources
	return nil
}

// cgroup picks the manager for pl's limits and returns how sandbox.Run
// makes its group: nil when pl has no limits (no group at all). A limit the
// manager cannot apply is an error wrapping cgroup.ErrUnsupported, or, with
// --ignore-unsupported-limits, a warning on stderr and no such limit.
func (f *resourceFlags) cgroup(pl *sandbox.Plan, instance string) (*sandbox.Cgroup, error) {
	lim := cgroup.FromResources(pl.Spec.Linux.Resources)
	if lim.IsZero() {
		return nil, nil
	}
	if lim.IOWeight > 0 && f.weights.IOWeight > 0 {
		lim.IOWeight = f.weights.IOWeight
	}
	m, err := cgroup.New(f.manager)
	if err != nil {
		return nil, fmt.Errorf("cgroup manager %s: %w", f.manager, err)
	}
	for _, e := range m.Check(lim) {
		if !f.ignoreUnsupported {
			return nil, e
		}
		fmt.Fprintf(os.Stderr, "nook: warning: running %s without resources.%s: %s\n", pl.App, e.Limit, e.Reason)
		lim = lim.Without(e.Limit)
	}
	if lim.IsZero() {
		return nil, nil
	}
	if instance == "" { // no state record: an id of the same kind
		var err error
		if instance, err = state.NewID(); err != nil {
			return nil, err
		}
	}
	return &sandbox.Cgroup{Manager: m, Instance: instance, Limits: lim}, nil
}
