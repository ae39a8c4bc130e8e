package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

func init() { imageSubcommands = append(imageSubcommands, newImageLsCommand) }

func newImageLsCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images in the store",
		Long: `List the store's images: reference, ID (the start of the manifest
digest, usable as a reference), creation time, number of layers and size
(config and layer blobs as stored). Build-cache entries are not listed.`,
		Example: `  nook image ls
  nook image ls -q`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			list, err := s.List()
			if err != nil {
				return err
			}
			if quiet {
				for _, im := range list {
					fmt.Println(shortID(im.Digest))
				}
				return nil
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tID\tCREATED\tLAYERS\tSIZE")
			for _, im := range list {
				created := "-"
				if !im.Created.IsZero() {
					created = im.Created.UTC().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", displayRef(im.Ref), shortID(im.Digest), created, im.Layers, cgroup.FormatBytes(im.Size))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only image IDs")
	return cmd
}
