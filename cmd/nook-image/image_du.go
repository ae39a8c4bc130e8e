package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

func init() { imageSubcommands = append(imageSubcommands, newImageDuCommand) }

func newImageDuCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "du",
		Short: "Show the disk space images take, shared and unique",
		Long: `Show per image the disk space of its layers (blob plus unpacked
directory, in allocated blocks): SHARED is what it shares with other
images, UNIQUE what only it uses (what removing it and pruning would
free). The last lines compare what the store takes on disk with what the
images would take without sharing.`,
		Example: `  nook image du`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			u, err := s.DiskUsage()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tID\tSIZE\tSHARED\tUNIQUE")
			for _, im := range u.Images {
				var refs []string
				for _, r := range strings.Split(im.Ref, ", ") {
					refs = append(refs, displayRef(r))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.Join(refs, ", "), shortID(im.Digest), cgroup.FormatBytes(im.Size), cgroup.FormatBytes(im.Shared), cgroup.FormatBytes(im.Unique))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Printf("store %s: %s on disk; the images add up to %s (%s saved by sharing)\n",
				s.Root(), cgroup.FormatBytes(u.Total), cgroup.FormatBytes(u.SumOfImages), cgroup.FormatBytes(max(0, u.SumOfImages-u.Total)))
			return nil
		},
	}
}
