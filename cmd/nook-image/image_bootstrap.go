package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/image/bootstrap"
)

func init() { imageSubcommands = append(imageSubcommands, newImageBootstrapCommand) }

func newImageBootstrapCommand() *cobra.Command {
	var mirror, variant string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "bootstrap debian:SUITE [--mirror URL]",
		Short: "Make a Debian base image with debootstrap",
		Long: `Make a Debian base image from Debian's packages with debootstrap
(--variant=minbase by default), store it as one layer and tag it
debian:SUITE. This is how to get a real base image without a registry;
build on it with 'nook build'.

The mirror is --mirror, else the first Debian archive the host's apt
sources name (/etc/apt/sources.list, /etc/apt/sources.list.d/), else
` + bootstrap.DefaultMirror + `. Downloaded packages are kept in
/var/cache/nook/debootstrap for the next bootstrap.

debootstrap needs root (it creates files of many owners and chroots to
configure packages): run it with sudo. The image then lives in root's
store, /var/lib/nook. Device nodes, package lists, downloaded packages and
the host's resolv.conf and hosts are left out of the image.`,
		Example: `  sudo nook image bootstrap debian:bookworm
  sudo nook image bootstrap debian:trixie --mirror http://ftp.de.debian.org/debian`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := args[0]
			if norm, err := image.NormaliseReference(ref); err == nil {
				ref = image.Familiar(norm)
			}
			suite, err := bootstrap.Suite(ref, "/usr/share/debootstrap/scripts")
			if err != nil {
				return err
			}
			st, err := openStore()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			var log io.Writer = os.Stderr
			if quiet {
				log = nil
			}
			if os.Geteuid() == 0 {
				fmt.Fprintf(os.Stderr, "bootstrapping %s with debootstrap (a few minutes)...\n", ref)
			}
			img, err := bootstrap.Bootstrap(ctx, st, ref, suite, bootstrap.Options{
				Mirror: mirror, Variant: variant, Log: log,
				CacheDir: filepath.Join("/var/cache/nook", "debootstrap"),
			})
			if err != nil {
				return err
			}
			fmt.Printf("%s %s\n", image.Familiar(img.Ref), img.Digest)
			return nil
		},
	}
	cmd.Flags().StringVar(&mirror, "mirror", "", "Debian archive URL (default: the host's apt sources')")
	cmd.Flags().StringVar(&variant, "variant", "minbase", "debootstrap --variant")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not show debootstrap's output")
	return cmd
}
