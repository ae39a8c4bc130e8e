package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nook-sandbox/nook/plan"
	"github.com/nook-sandbox/nook/profiles"
)

func init() { subcommands = append(subcommands, newProfileCommand) }

func newProfileCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Check, list and show profiles",
		Long: `Check, list and show the TOML profiles that say what an app is and what
it may reach. See docs/profile.md for every key.

A profile is found by name in the working directory, then in
$XDG_CONFIG_HOME/nook/profiles (~/.config/nook/profiles), then in
/etc/nook/profiles, then among the profiles built into nook.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newProfileCheckCommand(), newProfileListCommand(), newProfileShowCommand())
	return cmd
}

func newProfileCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Check profile files for errors",
		Long: `Check parses and validates each profile file, and checks what does not
depend on the machine: that this version of nook supports every grant, and
that the seccomp policy (a JSON file, allow_syscalls, deny_syscalls) loads.
It prints "FILE: ok" for a good file and one line, "FILE:LINE: problem",
for a bad one, and exits with status 1 if any file is bad. The display and
other host facts are checked by nook run (and nook doctor).`,
		Example: `  nook profile check firefox.toml
  nook profile check ~/.config/nook/profiles/*.toml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := false
			for _, file := range args {
				p, err := profiles.Load(file)
				if err == nil {
					err = plan.Check(p)
				}
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad = true
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
			}
			if bad {
				return &exitError{Code: 1}
			}
			return nil
		},
	}
}

func newProfileListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the profiles nook can find by name",
		Long: `List lists the profiles in the profile directories and the built-in
profiles, in search order. A profile marked "(shadowed)" is hidden by one
found earlier under the same name; one marked "(invalid)" does not load,
and "nook profile check SOURCE" says why. Files in the working directory
are not listed.`,
		Example: `  nook profile list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, err := profiles.List()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSOURCE\tDESCRIPTION")
			for _, e := range entries {
				desc := e.Description
				if e.Err != nil {
					desc = "(invalid)"
				}
				if e.Shadowed {
					desc = "(shadowed) " + desc
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", e.ID, e.Source, desc)
			}
			return w.Flush()
		},
	}
}

func newProfileShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|NAME@VERSION|FILE",
		Short: "Show the effective profile, with defaults filled in",
		Long: `Show finds a profile as "nook run" does and prints it as TOML with every
default filled in, after a comment saying where it was found. The output is
itself a valid profile.`,
		Example: `  nook profile show xclock
  nook profile show firefox@esr
  nook profile show ./firefox.toml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := profiles.Find(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# source: %s\n", p.Source)
			_, err = cmd.OutOrStdout().Write(profiles.Format(p))
			return err
		},
	}
}
