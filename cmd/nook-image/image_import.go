package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/image"
)

func init() { imageSubcommands = append(imageSubcommands, newImageImportCommand) }

func newImageImportCommand() *cobra.Command {
	var tag string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import images from a docker save or OCI archive",
		Long: `Import the images of FILE into the store: a 'docker save' archive, an OCI
archive ('podman save --format oci-archive', 'skopeo copy ... oci-archive:')
or an OCI layout directory. Archives may be gzip- or zstd-compressed.

Every blob and layer is checked against its digest; a mismatch names the
layer. Layers are unpacked safely: no archive entry can write outside its
layer (see docs/images.md). The tags the archive names are set, replacing
older images of the same tags. An interrupted import leaves the store
consistent; run it again.`,
		Example: `  docker save debian:bookworm -o debian.tar && nook image import debian.tar
  nook image import --tag myapp:1 app-oci.tar.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			p := newProgress(os.Stderr)
			out, err := s.Import(args[0], image.ImportOptions{Tag: tag, Progress: p.event})
			p.finish()
			if err != nil {
				return err
			}
			for _, im := range out {
				fmt.Printf("imported %s (%s)\n", displayRef(im.Ref), shortID(im.Digest))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tag, "tag", "", "also tag the imported image REF (the archive must hold one image)")
	return cmd
}
