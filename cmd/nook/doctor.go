package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/devices"
	"github.com/nook-sandbox/nook/sandbox"
)

func init() { subcommands = append(subcommands, newDoctorCommand) }

func newDoctorCommand() *cobra.Command {
	var format, probeOverlay string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run sandboxes",
		Long: `Check what nook needs from this machine: the kernel, user namespaces
(tried for real), overlayfs in a user namespace (mounted for real), cgroups,
seccomp, libseccomp and the display.

Each line says ok, warn or fail and what was found; under each problem is
the command that fixes it. nook doctor exits 1 when a check fails, 0
otherwise.`,
		Example: `  nook doctor
  nook doctor --format json | jq '.findings[] | select(.status != "ok")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if probeOverlay != "" {
				// The child half of the overlay check, in new
				// namespaces; the parent reports its last line.
				if err := sandbox.ProbeOverlay(probeOverlay); err != nil {
					return &exitError{Code: 1, Err: err}
				}
				return nil
			}
			write := sandbox.WriteFindings
			switch format {
			case "text":
			case "json":
				write = sandbox.WriteFindingsJSON
			default:
				return fmt.Errorf("--format %q: use text or json", format)
			}

			h := sandbox.SystemHost()
			h.Overlay = sandbox.OverlayProbe("/proc/self/exe", "doctor", "--probe-overlay")
			if v, err := imageLibseccomp(); err == nil {
				var major, minor, micro uint
				if _, err := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &micro); err == nil {
					h.LibseccompVersion = func() (uint, uint, uint) { return major, minor, micro }
				}
			}
			findings := sandbox.Diagnose(h, append(sandbox.Checks(), devices.CheckDisplay))
			if err := write(os.Stdout, findings); err != nil {
				return err
			}
			if sandbox.Failed(findings) {
				return &exitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&probeOverlay, "probe-overlay", "", "mount an overlayfs in `DIR` (internal)")
	cmd.Flags().MarkHidden("probe-overlay")
	return cmd
}
