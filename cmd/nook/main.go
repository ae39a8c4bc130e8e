// Command nook launches Linux desktop apps in sandboxes.
//
// This package is the CLI only: one file per subcommand, flag parsing and
// output. The logic lives in the library packages.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/cmd/internal/cli"
	// Maps the heap nook run is about to use before it does.
	_ "github.com/nook-sandbox/nook/cmd/internal/prefault"
)

// exitError carries an exit status to main (see cli.ExitError).
type exitError = cli.ExitError

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
	args := os.Args[1:]
	// Shell completion of the commands nook-image answers is nook-image's.
	if len(args) > 1 && (args[0] == "__complete" || args[0] == "__completeNoDesc") && (args[1] == "image" || args[1] == "build") {
		cli.Exit(execImage(args))
	}
	if ref, rest, ok := plainRun(args); ok {
		cli.Exit(runStatus(launch(ref, rest, defaultResourceFlags())))
	}
	cli.Exit(newRootCommand(args).Execute())
}
