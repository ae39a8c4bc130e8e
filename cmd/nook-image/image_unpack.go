package main

import (
	"github.com/spf13/cobra"
)

func init() { imageSubcommands = append(imageSubcommands, newImageUnpackCommand) }

// newImageUnpackCommand is what nook run runs when an image it is to run
// has a layer that is not unpacked (image/layout only reads the store).
func newImageUnpackCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "unpack REF",
		Short:  "Unpack the layers of an image that are not unpacked (nook run uses it)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore()
			if err != nil {
				return err
			}
			_, err = st.Resolve(args[0])
			return err
		},
	}
}
