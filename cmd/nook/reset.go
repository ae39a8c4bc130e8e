package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/plan"
	"github.com/nook-sandbox/nook/profiles"
)

func init() { subcommands = append(subcommands, newResetCommand) }

func newResetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reset NAME[@VERSION]",
		Short: "Discard the persistent root of an app on an image",
		Long: `Discard what an app on an image wrote into its root file system: its
overlay upper dir, kept between runs when the profile says
[filesystem] root = "persistent" (the default). The next run starts from
the image as it is. The app's home is not touched.

NAME@VERSION resets that version only. nook refuses while the app runs.
The roots live in $XDG_DATA_HOME/nook/roots (~/.local/share/nook/roots),
or /var/lib/nook/roots/UID when nook runs as root.`,
		Example: `  nook reset firefox
  nook reset firefox@esr`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return reset(args[0])
		},
	}
}

func reset(ref string) error {
	name, version, err := profiles.ParseRef(ref)
	if err != nil {
		return err
	}
	id := (&profiles.Profile{Name: name, Version: version}).ID()
	if live, err := liveRecords(); err == nil {
		for _, r := range live {
			if r.App == id {
				return fmt.Errorf("%s is running (%s); stop it first with 'nook stop %s'", id, r.Ref(), r.Ref())
			}
		}
	}
	host, err := plan.ProbeHost(&profiles.Profile{Name: name, Version: version, Image: profiles.ImageHost}, os.Getenv)
	if err != nil {
		return err
	}
	dir, err := host.ResetRoot(id)
	if err != nil {
		return err
	}
	if dir == "" {
		fmt.Printf("%s has no persistent root; nothing to reset\n", id)
		return nil
	}
	fmt.Printf("removed %s (the persistent root of %s)\n", dir, id)
	return nil
}
