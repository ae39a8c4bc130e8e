package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/sandbox/state"
)

func init() { subcommands = append(subcommands, newGcCommand) }

func newGcCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Remove what dead sandboxes left behind",
		Long: `Remove the state of sandboxes whose nook process died without cleaning
up (killed with SIGKILL, say): their record, their cgroup (killing what is
left in it) and their runtime files. Also remove files in the state
directory that are not valid records and temporary files of writers that
are gone. Each removal is printed on its own line.

Every nook command but a warm launch (see nook run) already collects the
records of dead sandboxes on the way (cheaply: one directory read and a
stat per record); nook gc also removes invalid files, and reports.

Records live in /run/nook for root; otherwise in $XDG_RUNTIME_DIR/nook,
else /run/user/UID/nook when that directory is the user's, else
/tmp/nook-UID (which nook refuses to use unless it is the user's and
private). $NOOK_RUNTIME_DIR overrides all of these.

Exit status: 0 when everything was removed; 125 when something could not
be (the reason is printed; the rest is removed).`,
		Example: `  nook gc`,
		Args:    cobra.NoArgs,
		// Not the root's collection: gc collects itself, and reports.
		PersistentPreRun: func(*cobra.Command, []string) {},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := state.OpenDefault()
			if err != nil {
				return err
			}
			res, err := s.Gc()
			if res != nil {
				for _, r := range res.Stale {
					fmt.Printf("removed stale sandbox %s (%s, launcher pid %d)\n", r.ID, r.Ref(), r.Launcher.PID)
				}
				for _, b := range res.Bad {
					fmt.Printf("removed invalid record %s\n", b)
				}
				for _, t := range res.Temp {
					fmt.Printf("removed abandoned temporary file %s\n", t)
				}
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "nook:", err)
				return &exitError{Code: 125}
			}
			return nil
		},
	}
}
