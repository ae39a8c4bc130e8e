package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/cmd/internal/cli"
	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/image/recipe"
)

func newBuildCommand() *cobra.Command {
	cmd := cli.Build.Command()
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		r, err := recipe.Load(args[0])
		if err != nil {
			return err
		}
		st, err := image.Open(image.DefaultRoot())
		if err != nil {
			return err
		}
		_, err = recipe.Build(r, recipe.Options{Store: st, Stdout: os.Stdout, Stderr: os.Stderr})
		return err
	}
	return cmd
}
