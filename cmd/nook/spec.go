package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newSpecCommand) }

func newSpecCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "spec NAME[@VERSION]|FILE.toml [-- ARGS...]",
		Short: "Print the sandbox plan of an app as JSON",
		Long: `Print the plan nook would run for an app: an OCI runtime spec (mounts,
namespaces, id mappings, capabilities, seccomp policy, resources, process)
plus what the spec has no field for (symlinks, generated files, network).
Secrets such as X11 cookies are redacted. Nothing is started, but the
app's persistent home is created if it is missing.`,
		Example: `  nook spec xclock | jq .spec.mounts`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pl, _, err := compile(args[0], args[1:], nil)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(pl.Redacted())
		},
	}
}
