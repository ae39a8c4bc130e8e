package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/sandbox/state"
)

func init() { subcommands = append(subcommands, newStopCommand) }

func newStopCommand() *cobra.Command {
	var seconds int
	cmd := &cobra.Command{
		Use:   "stop [--time SECONDS] APP|ID...",
		Short: "Stop running sandboxes: SIGTERM, then SIGKILL",
		Long: `Stop each named sandbox: send SIGTERM to its app (through the sandbox's
init), wait up to --time seconds for it to exit, then kill every process
in the sandbox with SIGKILL. nook stop returns when the sandbox and the
nook that ran it have exited. It prints each sandbox's ID once stopped.

A sandbox is named by its instance id or a unique prefix of it (3 digits
or more), by APP:N as nook ps shows it, or by its app ("firefox@esr", or
"firefox" for any version) when only one instance of it runs.

Exit status: 0 when every named sandbox has stopped; 125 when a name
matches no running sandbox or several, or a sandbox could not be stopped
(each problem is one line on stderr; the other sandboxes are still
stopped).`,
		Example: `  nook stop firefox
  nook stop --time 2 3f2a9c
  nook stop firefox:2 xterm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if seconds < 0 {
				return fmt.Errorf("--time %d: use 0 or more seconds", seconds)
			}
			return eachRecord(args, func(r *state.Record) error {
				killed, err := state.Stop(r, time.Duration(seconds)*time.Second)
				if err != nil {
					return err
				}
				if killed {
					fmt.Fprintf(os.Stderr, "nook: %s did not exit within %ds of SIGTERM; killed it\n", r.Ref(), seconds)
				}
				fmt.Println(r.ID)
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait after SIGTERM before SIGKILL")
	return cmd
}

// eachRecord runs do on the sandbox each name matches. It goes on after a
// failure, prints each error on its own line, and returns an exit status
// 125 error when any failed.
func eachRecord(names []string, do func(*state.Record) error) error {
	live, err := liveRecords()
	if err != nil {
		return err
	}
	failed := false
	for _, n := range names {
		r, err := state.Match(live, n)
		if err == nil {
			err = do(r)
		}
		if errors.Is(err, state.ErrGone) {
			err = fmt.Errorf("%s ended meanwhile", n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nook:", err)
			failed = true
		}
	}
	if failed {
		return &exitError{Code: 125}
	}
	return nil
}
