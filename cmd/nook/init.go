package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/sandbox"
)

func init() { subcommands = append(subcommands, newInitCommand) }

// newInitCommand is the hidden init stage: "nook run" re-executes nook as
// "nook init" inside the new namespaces. main dispatches to it before
// cobra parses anything, to keep launches fast; this command only exists so
// that calling it by hand gives a clear error.
func newInitCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "init",
		Short:  "Internal: the sandbox's init stage (started by nook run)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !sandbox.IsInit() {
				return errors.New("nook init is started by nook run; it is not a command to run by hand")
			}
			os.Exit(sandbox.Init())
			return nil
		},
	}
}
