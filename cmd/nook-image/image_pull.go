package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/image"
)

func init() { imageSubcommands = append(imageSubcommands, newImagePullCommand) }

func newImagePullCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pull REF",
		Short: "Fetch an image from a registry",
		Long: `Fetch the image REF from its OCI registry (Docker Hub when REF names no
registry) and tag it in the store. For a multi-platform image, the
linux variant of this machine's architecture is fetched.

Credentials come from ~/.docker/config.json ($DOCKER_CONFIG),
$REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json, as
'docker login' and 'podman login' write them. Registries on localhost or
a loopback address are spoken to over plain HTTP.

Progress: a bar per layer on a terminal, one line per layer and step
otherwise. Layers already in the store are not fetched again; every blob
is checked against its digest. An interrupted pull leaves the store
consistent; run it again.`,
		Example: `  nook image pull debian:bookworm
  nook image pull localhost:5000/myapp:1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			p := newProgress(os.Stderr)
			im, err := s.Pull(cmd.Context(), args[0], image.PullOptions{Progress: p.event})
			p.finish()
			if err != nil {
				return err
			}
			fmt.Printf("pulled %s (%s)\n", displayRef(im.Ref), shortID(im.Digest))
			return nil
		},
	}
}
