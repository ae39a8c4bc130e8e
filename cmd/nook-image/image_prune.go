package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

func init() { imageSubcommands = append(imageSubcommands, newImagePruneCommand) }

func newImagePruneCommand() *cobra.Command {
	var cache bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove blobs and layers no image uses",
		Long: `Remove the blobs and unpacked layers that no image (and no build-cache
entry) uses, and what interrupted imports, pulls and builds left in the
store's tmp/. Waits for running imports, pulls and builds to finish. With
--cache, the build cache goes too, so the next 'nook build' runs every
step again.`,
		Example: `  nook image rm old:1 && nook image prune`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			p, err := s.Prune(image.PruneOptions{Cache: cache})
			if err != nil {
				return err
			}
			fmt.Printf("removed %d blobs and %d layers, freed %s\n", p.Blobs, p.Layers, cgroup.FormatBytes(p.Bytes))
			return nil
		},
	}
	cmd.Flags().BoolVar(&cache, "cache", false, "also drop the build cache")
	return cmd
}
