package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/sandbox/seccomp/compiler"
)

// newSeccompCommand is what nook runs to compile a seccomp policy its
// cache lacks (nook links no libseccomp; see seccomp.CompileCached), and to
// learn which libseccomp compiles when it was built without that version.
func newSeccompCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "seccomp",
		Short:  "Compile seccomp policies for nook run",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	var want string
	compile := &cobra.Command{
		Use:   "compile --libseccomp VERSION < POLICY.json > PROGRAM.bpf",
		Short: "Compile an OCI seccomp policy (JSON) into a raw classic-BPF program",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// nook keys its cache with the version it expects: an entry
			// must come from the libseccomp its key names.
			if have := compiler.Version(); want != have {
				return fmt.Errorf("nook expects libseccomp %q, nook-image links %s: build both with scripts/build", want, have)
			}
			in, err := io.ReadAll(os.Stdin)
			if err != nil {
				return fmt.Errorf("reading the policy: %w", err)
			}
			var s specs.LinuxSeccomp
			if err := json.Unmarshal(in, &s); err != nil {
				return fmt.Errorf("reading the policy: %w", err)
			}
			prog, err := compiler.Compile(&s)
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(prog)
			return err
		},
	}
	compile.Flags().StringVar(&want, "libseccomp", "", "the libseccomp version nook expects")
	version := &cobra.Command{
		Use:   "libseccomp-version",
		Short: "Print the version of the libseccomp that compiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Println(compiler.Version())
			return err
		},
	}
	cmd.AddCommand(compile, version)
	return cmd
}
