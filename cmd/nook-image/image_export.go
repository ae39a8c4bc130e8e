package main

import (
	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/image"
)

func init() { imageSubcommands = append(imageSubcommands, newImageExportCommand) }

func newImageExportCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export REF FILE",
		Short: "Write an image to a docker save or OCI archive",
		Long: `Write the image REF to FILE ("-" for standard output): a 'docker save'
archive that 'docker load' and 'nook image import' read (--format docker,
the default), or an OCI archive (--format oci) that podman, skopeo and
'nook image import' read. The file appears complete or not at all.`,
		Example: `  nook image export debian/firefox:esr firefox.tar
  nook image export --format oci debian:bookworm - | gzip > bookworm.oci.tar.gz`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			return s.Export(args[0], args[1], format)
		},
	}
	cmd.Flags().StringVar(&format, "format", image.FormatDocker, `archive format: "docker" or "oci"`)
	return cmd
}
