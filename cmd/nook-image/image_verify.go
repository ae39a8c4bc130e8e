package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/cmd/internal/cli"
)

func init() { imageSubcommands = append(imageSubcommands, newImageVerifyCommand) }

func newImageVerifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the image store",
		Long: `Check the store: index.json parses, every blob's content matches its
digest, every image's manifest, config and layer blobs exist, and every
unpacked layer holds what its blob says (each path with its type, regular
files with their size). Prints one line per problem and exits with status
1 if there is any. A layer that is not unpacked is harmless: nook
unpacks it on next use.`,
		Example: `  nook image verify`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			problems, err := s.Verify()
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Println(p)
			}
			if len(problems) > 0 {
				return &cli.ExitError{Code: 1, Err: fmt.Errorf("image store %s: %d problems", s.Root(), len(problems))}
			}
			fmt.Printf("image store %s: ok\n", s.Root())
			return nil
		},
	}
}
