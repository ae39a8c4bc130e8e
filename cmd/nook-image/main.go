// Command nook-image is the half of nook that manages images: `nook image
// ...` and `nook build`. nook runs it, from the directory nook itself is
// in, for those commands, so that nook run does not link (and initialise at
// every launch) go-containerregistry, compression and registry access. Its
// commands read as nook's: "nook image ls", not "nook-image image ls".
//
// This package is the CLI only: flag parsing and output; the logic lives
// in package image and its subpackages.
package main

import (
	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/cmd/internal/cli"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		// nook runs this binary for `nook image` and `nook build`: help and
		// usage name the commands as users type them.
		Use:           "nook",
		Short:         "Manage nook's images (nook runs nook-image for image and build)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true // nook has it; nook runs nook-image for __complete image/build
	root.AddCommand(newImageCommand(), newBuildCommand(), newSeccompCommand())
	return root
}

func main() {
	cli.Exit(newRootCommand().Execute())
}
