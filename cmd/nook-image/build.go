package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/image/recipe"
)

func init() { subcommands = append(subcommands, newBuildCommand) }

func newBuildCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "build RECIPE.toml",
		Short: "Build an image from a recipe",
		Long: `Build an image from a TOML recipe (see docs/recipes.md):

  from = "debian:bookworm"
  tag = "local/hello:1"
  env = { LANG = "C.UTF-8" }

  [[step]]
  run = "apt-get update && apt-get install -y --no-install-recommends hello"

  [[step]]
  copy = { src = "hello.conf", dst = "/etc/hello.conf" }

Each run step runs with /bin/sh -c in a build sandbox on the layers so far,
with the host's network, as uid 0 inside its own user namespace (mapped
to your uid; to root's when nook runs as root) and without capabilities;
apt is configured to download as root (APT::Sandbox::User). What the step
changes becomes one new layer, deletions as whiteouts. A copy step copies
a file beside the recipe into the image.

Steps are cached by the base image, the recipe's env and every step up to
and including them: building an unchanged recipe again runs no step. The
image is tagged in the store ('nook image ls'); a profile uses it with
image = "TAG".`,
		Example: `  nook build hello.toml
  sudo nook build browser.toml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
		},
	}
}
