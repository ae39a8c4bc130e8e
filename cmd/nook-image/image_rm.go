package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { imageSubcommands = append(imageSubcommands, newImageRmCommand) }

func newImageRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"remove"},
		Short:   "Remove image tags",
		Long: `Remove each REF from the store: a tag removes that tag, an ID or digest
removes every tag of that image. Blobs and unpacked layers stay until
'nook image prune' removes what no image uses any more. An app's upper
directory (its changes to the image) is not touched; see 'nook reset'.`,
		Example: `  nook image rm debian/firefox:esr
  nook image rm 3f2a9c1b7d4e && nook image prune`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			for _, ref := range args {
				removed, err := s.Remove(ref)
				if err != nil {
					return err
				}
				for _, r := range removed {
					fmt.Printf("removed %s\n", displayRef(r))
				}
			}
			return nil
		},
	}
}
