package main

import (
	"errors"
	"fmt"
	"github.com/nook-sandbox/nook/sandbox"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/cmd/internal/cli"
)

// The image commands (nook image ..., nook build) are a second binary,
// nook-image, beside nook: they link go-containerregistry, compression and
// registry access (net/http, crypto/tls), whose package initialisation
// would cost every nook run about a millisecond. nook lists them with
// their own text and replaces itself with nook-image, given the same
// arguments, to run them; their help is nook-image's.
func init() {
	subcommands = append(subcommands, imageCommand(cli.Image), imageCommand(cli.Build))
}

func imageCommand(doc cli.Doc) func() *cobra.Command {
	return func() *cobra.Command {
		c := doc.Command()
		// Flags, --help included, are nook-image's to parse.
		c.DisableFlagParsing = true
		c.RunE = func(*cobra.Command, []string) error { return execImage(os.Args[1:]) }
		// nook help image [COMMAND]: nook-image help image [COMMAND].
		c.SetHelpFunc(func(*cobra.Command, []string) { cli.Exit(execImage(os.Args[1:])) })
		return c
	}
}

// imageHelper is the path of nook-image: beside the running nook.
func imageHelper() (string, error) {
	sandbox.Unpin() // nook-image gets every CPU
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding nook-image: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Join(filepath.Dir(exe), "nook-image"), nil
}

// execImage replaces nook with nook-image run with args, so its exit
// status, signals and standard streams are the command's. It returns only
// when it cannot.
func execImage(args []string) error {
	helper, err := imageHelper()
	if err != nil {
		return err
	}
	err = syscall.Exec(helper, append([]string{helper}, args...), os.Environ())
	return helperError(helper, err)
}

// helperError explains a failure to run nook-image at path.
func helperError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is missing: nook runs it for image commands and to compile seccomp filters; build it beside nook with scripts/build -o %s (in nook's source)", path, filepath.Join(filepath.Dir(path), "nook"))
	}
	return fmt.Errorf("running %s: %w", path, err)
}

// unpackImage runs `nook-image image unpack REF`, which unpacks the layers
// of image ref that are not unpacked (nook run only reads the store).
func unpackImage(ref string) error {
	helper, err := imageHelper()
	if err != nil {
		return err
	}
	p, err := os.StartProcess(helper, []string{helper, "image", "unpack", ref}, &os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		return helperError(helper, err)
	}
	st, err := p.Wait()
	if err != nil {
		return err
	}
	if !st.Success() {
		return fmt.Errorf("%s image unpack %s: %s", helper, ref, st)
	}
	return nil
}
