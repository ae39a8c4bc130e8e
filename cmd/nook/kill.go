package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/sandbox/state"
)

func init() { subcommands = append(subcommands, newKillCommand) }

func newKillCommand() *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [--signal SIG] APP|ID...",
		Short: "Send a signal to running sandboxes' apps",
		Long: `Send a signal (default KILL) to the app of each named sandbox, and print
its ID. nook kill does not wait: the nook that runs the sandbox exits with
the app's status (128+N when the signal N ended it).

SIG is a name (TERM, SIGTERM, term) or a number (15). INT, TERM, HUP,
QUIT, USR1, USR2 and WINCH go through the sandbox's init, which passes
them on; other signals go straight to the app's process. When the app
ends, init ends the sandbox and everything left in it.

Sandboxes are named as for nook stop: instance id or a prefix of 3 or
more digits, APP:N, or an app running once.

Exit status: 0 when every signal was sent; 125 when a name matches no
running sandbox or several, or the signal is unknown.`,
		Example: `  nook kill firefox
  nook kill --signal HUP 3f2a9c
  nook kill -s 10 xterm:2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := state.ParseSignal(signal)
			if err != nil {
				return fmt.Errorf("--signal: %w", err)
			}
			return eachRecord(args, func(r *state.Record) error {
				if err := state.Signal(r, sig); err != nil {
					return err
				}
				fmt.Println(r.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "signal to send: a name (TERM) or number (15)")
	return cmd
}
