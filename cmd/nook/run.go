package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/image/layout"
	"github.com/nook-sandbox/nook/plan"
	"github.com/nook-sandbox/nook/profiles"
	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/seccomp"
	"github.com/nook-sandbox/nook/witness"
)

func init() { subcommands = append(subcommands, newRunCommand) }

func newRunCommand() *cobra.Command {
	var rf resourceFlags
	c := &cobra.Command{
		Use:   "run NAME[@VERSION]|FILE.toml [-- ARGS...]",
		Short: "Run an app in a sandbox",
		Long: `Run an app in a sandbox made from its profile.

NAME is looked up in ./NAME.toml, $XDG_CONFIG_HOME/nook/profiles,
/etc/nook/profiles and the built-in profiles; a path ending in .toml is
read directly. ARGS after -- are appended to the profile's command.

The app's standard streams are nook's. Signals sent to nook (INT, TERM,
HUP, QUIT, USR1, USR2, WINCH) are passed to the app. nook exits with the
app's exit status, 128+N when the app was killed by signal N, 125 when nook
itself failed, 126 when the command cannot be executed and 127 when it is
not found.

Run as root, nook runs the app as $SUDO_UID/$SUDO_GID, or as nobody
(65534) when those are unset: never as root.

A launch that repeats an earlier one exactly (arguments, environment,
working directory, and every file the plan came from unchanged) is a warm
launch: it starts the sandbox the earlier one recorded without compiling
the plan again. NOOK_WARM_LAUNCH=0 turns that off.

Resource limits come from the profile's [resources] table; the flags
--memory, --memory-swap, --cpus, --cpuset, --cpu-weight, --pids and
--io-weight override it key by key, with the same rules. With limits, the
app runs in a control group of its own, made by --cgroup-manager: auto
(a systemd scope when systemd answers on D-Bus and the host has cgroup v2,
else cgroupfs), systemd, or cgroupfs. A limit the host cannot apply (cgroup
v1 rootless, a user manager that does not delegate the cpu controller)
makes nook refuse with the fix, unless --ignore-unsupported-limits. When
the OOM killer ends the app, nook says so, sends a desktop notification
and exits 137. See docs/cli.md.`,
		Example: `  nook run xclock
  nook run ./myapp.toml
  nook run xterm -- -e top
  nook run --memory 2G --cpus 1.5 firefox`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(launch(args[0], args[1:], &rf))
		},
	}
	rf.register(c)
	return c
}

// launch is what nook run does with its arguments: run, or a stand-in in
// tests.
var launch = run

// runStatus turns run's result into the error main ends with: nil for
// exit status 0.
func runStatus(code int, err error) error {
	if err != nil || code != 0 {
		return &exitError{Code: code, Err: err}
	}
	return nil
}

// plainRun says whether args are "run REF [ARGS...]" with no argument
// that starts with "-". For those the command tree parses no flag and
// calls launch with REF and ARGS and every flag at its default, so main
// calls launch itself: building and executing the tree cost each launch
// about 0.1 ms before run started. TestPlainRun compares the two.
func plainRun(args []string) (ref string, rest []string, ok bool) {
	if len(args) < 2 || args[0] != "run" {
		return "", nil, false
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			return "", nil, false
		}
	}
	return args[1], args[2:], true
}

// run launches ref with args and returns nook's exit status.
func run(ref string, args []string, rf *resourceFlags) (int, error) {
	sandbox.CatchSignals() // while the prestarted init builds the sandbox
	facts := new(witness.Log)
	pl, prof, err := compile(ref, args, facts, rf.apply)
	if err != nil {
		return 125, err
	}
	for _, w := range pl.Warnings {
		fmt.Fprintln(os.Stderr, "nook: warning:", w)
	}
	var filter []byte
	if pol := pl.Spec.Linux.Seccomp; pol != nil {
		c, err := seccompCompiler()
		if err == nil {
			filter, err = seccomp.CompileCached(pol, cacheDir(), c)
		}
		if err != nil {
			return 125, fmt.Errorf("compiling seccomp filter for %s: %w", pl.App, err)
		}
	}
	rec := track(pl)
	cg, err := rf.cgroup(pl, rec.rec.ID)
	if err != nil {
		rec.done()
		return 125, err
	}
	rec.limits(cg)
	var warm *sandbox.WarmLaunch
	if warmEligible(prof, pl) && rec.store != nil {
		warm = &sandbox.WarmLaunch{Facts: facts.Bytes(), StateDir: rec.store.Dir()}
	}
	code, err := sandbox.Run(pl, sandbox.Options{Filter: filter, Stdio: sandbox.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, Started: rec.started, Cgroup: cg, Warm: warm})
	rec.done()
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		notifyOOM(ee.Err)
		return ee.Code, ee.Err
	}
	return code, err
}

// warmEligible says whether a launch of profile prof with plan pl may
// let the next launch with the same arguments be a warm one
// (sandbox/fastlaunch.go): only when the plan comes from nothing but the
// facts compile records, and there is no warning to print.
//
// Resource limits make it ineligible even when none is applied: whether
// the host can apply each (resourceFlags.cgroup) is not a fact compile
// records.
func warmEligible(prof *profiles.Profile, pl *sandbox.Plan) bool {
	s := prof.Security.Seccomp
	return prof.Image == profiles.ImageHost && len(pl.Warnings) == 0 &&
		(s == "" || s == profiles.SeccompDefault || s == profiles.SeccompUnconfined) &&
		cgroup.FromResources(pl.Spec.Linux.Resources).IsZero()
}

// compile finds the profile ref, applies adjust to it (flags), probes the
// host and compiles the plan; facts (nil: nowhere) records what it found
// at each host path, before it read it. It also creates the app's
// persistent home: the plan binds it.
func compile(ref string, args []string, facts *witness.Log, adjust ...func(*profiles.Profile) error) (*sandbox.Plan, *profiles.Profile, error) {
	prof, err := profiles.FindWitnessed(ref, facts)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range adjust {
		if err := f(prof); err != nil {
			return nil, nil, err
		}
	}
	host, err := plan.ProbeHostWitnessed(prof, os.Getenv, facts)
	if err != nil {
		return nil, nil, err
	}
	if prof.Image != profiles.ImageHost { // DefaultRoot reads /proc: not for host apps
		if err := plan.ResolveImage(host, prof, layout.DefaultRoot(), unpackImage); err != nil {
			return nil, nil, err
		}
	}
	pl, err := plan.Compile(prof, host, args)
	if err != nil {
		return nil, nil, err
	}
	if prof.Filesystem.Home != profiles.Ephemeral {
		home, err := host.PrepareHome(prof.ID())
		if err != nil {
			return nil, nil, err
		}
		facts.Lstat(home) // as it is now: made, and handed to the app's uid
	}
	if prof.Image != profiles.ImageHost && prof.Filesystem.Root != profiles.Ephemeral {
		if _, err := host.PrepareRoot(prof.ID()); err != nil {
			return nil, nil, err
		}
		if w := host.CheckRootImage(prof.ID()); w != "" {
			pl.Warnings = append(pl.Warnings, w)
		}
	}
	return pl, prof, nil
}

// cacheDir is where nook keeps derived data it can rebuild (compiled
// seccomp filters).
func cacheDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/nook"
	}
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return d + "/nook"
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h + "/.cache/nook"
	}
	return ""
}
