package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"
)

func init() { imageSubcommands = append(imageSubcommands, newImageInspectCommand) }

func newImageInspectCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect REF",
		Short: "Print an image's manifest, config and layers as JSON",
		Long: `Print what the store knows of the image REF as JSON: its reference and
manifest digest, the OCI manifest and config (env, command, working
directory, user, history), and per layer its diff ID, blob, blob size,
unpacked directory and whether that directory exists.`,
		Example: `  nook image inspect debian:bookworm | jq .config.config.Env`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			info, err := s.Inspect(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		},
	}
}
