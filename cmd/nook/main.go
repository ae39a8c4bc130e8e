// Command nook launches Linux desktop apps in sandboxes.
//
// This package is the CLI only: one file per subcommand, flag parsing and
// output. The logic lives in the library packages.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit status to main. Commands return it when the
// status matters (an app's exit code, 125 for nook's own errors).
type exitError struct {
	code int
	err  error // nil when there is nothing to print
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// newRootCommand returns the command tree that runs args (os.Args[1:]).
// When args start with "run" it holds the run command alone, without
// cobra's completion command: building the whole tree cost every launch
// 0.09 ms. nook run's help, usage and errors never name the other commands,
// so they read the same either way (TestRunTreeHelp).
func newRootCommand(args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "nook",
		Short: "Run Linux desktop apps in sandboxes",
		Long: `nook runs Linux desktop apps in sandboxes described by TOML profiles.

A profile says what an app is (command, image) and what it may reach:
the X11 display, files, network and system calls, and what it may use:
memory, CPU, processes. (Audio, devices and images are in the profile
schema; this version refuses or warns about them.) nook turns it into a
namespaced, seccomp-filtered, cgroup-limited sandbox that holds no
capabilities.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every call collects the records of sandboxes whose launcher died;
		// nook run does it when it writes its record (state.Store.Create),
		// while the sandbox starts, not before.
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			if cmd.Name() != "run" {
				collectStale()
			}
		},
	}
	if len(args) > 0 && args[0] == "run" {
		root.CompletionOptions.DisableDefaultCmd = true
		root.AddCommand(newRunCommand())
		return root
	}
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands is filled by each subcommand's file, in its init function.
var subcommands []func() *cobra.Command

func main() {
	if err := newRootCommand(os.Args[1:]).Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil {
				fmt.Fprintln(os.Stderr, "nook:", ee.err)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "nook:", err)
		os.Exit(125)
	}
}
