// Package cli holds what nook's two binaries share: the exit status
// convention and the text of the commands nook hands to nook-image (nook
// registers them with the same text, so its help lists them as before).
package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// ExitError carries an exit status to Exit. Commands return it when the
// status matters (an app's exit code, 125 for nook's own errors).
type ExitError struct {
	Code int
	Err  error // nil when there is nothing to print
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit ends the process after a command tree's Execute returned err: 0 for
// nil, the status of an ExitError, else 125. Errors are printed as
// "nook: ERROR".
func Exit(err error) {
	if err == nil {
		os.Exit(0)
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(os.Stderr, "nook:", ee.Err)
		}
		os.Exit(ee.Code)
	}
	fmt.Fprintln(os.Stderr, "nook:", err)
	os.Exit(125)
}

// Doc is the text of a command.
type Doc struct{ Use, Short, Long, Example string }

// Command returns a command with d's text.
func (d Doc) Command() *cobra.Command {
	return &cobra.Command{Use: d.Use, Short: d.Short, Long: d.Long, Example: d.Example}
}

// Image is the text of `nook image`.
var Image = Doc{
	Use:   "image COMMAND",
	Short: "Manage the image store: import, pull, list and remove images",
	Long: `Manage nook's image store, where images for profiles with image = "REF"
live: an OCI image layout whose layers are also kept unpacked, once each,
as overlayfs lower directories. Images that share layers share them on disk.

The store is /var/lib/nook when nook runs as root and
$XDG_DATA_HOME/nook (~/.local/share/nook) otherwise; $NOOK_STORE (an
absolute path) overrides both.

References are as Docker's: "debian:bookworm" (Docker Hub, library/),
"debian/firefox:esr", "localhost:5000/app:1", "NAME@sha256:...", or the
start of an image's digest as 'nook image ls' shows it (6 hex digits or
more). See docs/images.md.`,
}

// Build is the text of `nook build`.
var Build = Doc{
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
}
