package main

import (
	"github.com/spf13/cobra"
)

func init() { imageSubcommands = append(imageSubcommands, newImageTagCommand) }

func newImageTagCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give an image another tag",
		Long: `Tag the image SOURCE (a reference or ID) as TARGET too. TARGET must be a
tag, not a digest; an image TARGET named before keeps its other tags (or
becomes removable by 'nook image prune').`,
		Example: `  nook image tag debian:bookworm mybase:1`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			return s.Tag(args[0], args[1])
		},
	}
}
