package main

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/nook-sandbox/nook/profiles"
)

// TestRunTreeHelp checks that the tree built for nook run alone answers
// help, usage and flag errors as the whole tree does.
func TestRunTreeHelp(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--help"},
		{"run", "-h"},
		{"run"},
		{"run", "--memory"},
		{"run", "--bogus", "app"},
		{"run", "--memory", "2G", "--help"},
	} {
		var got, want [3]string
		for i, full := range []bool{false, true} {
			treeArgs := args
			if full {
				treeArgs = nil
			}
			root := newRootCommand(treeArgs)
			var out, errOut bytes.Buffer
			root.SetArgs(args)
			root.SetOut(&out)
			root.SetErr(&errOut)
			err := root.Execute()
			r := [3]string{out.String(), errOut.String(), fmt.Sprint(err)}
			if i == 0 {
				got = r
			} else {
				want = r
			}
		}
		if got != want {
			t.Errorf("nook %q: run-only tree gives\n%q\nwhole tree gives\n%q", args, got, want)
		}
		if got[0]+got[1]+got[2] == "<nil>" {
			t.Errorf("nook %q: no output at all", args)
		}
	}
}

// TestPlainRun checks main's shortcut past the command tree: for the
// arguments plainRun takes, launch gets what the tree would give it, with
// the same flags; arguments with anything flag-like go to the tree.
func TestPlainRun(t *testing.T) {
	// launched is one call of launch, the flags as the fields of
	// resourceFlags with the limit flags reduced to those given.
	type launched struct {
		Ref   string
		Args  []string
		Flags resourceFlags
		Given map[string]string
	}
	record := func(ref string, args []string, rf *resourceFlags) launched {
		flags := *rf
		flags.values = nil
		return launched{ref, args, flags, rf.given()}
	}
	saved := launch
	defer func() { launch = saved }()
	for _, tc := range []struct {
		args  []string
		plain bool
	}{
		{[]string{"run", "app"}, true},
		{[]string{"run", "./app.toml", "x", "help", "run"}, true},
		{[]string{"run", "app@esr", "a b", ""}, true},
		{[]string{"run", ""}, true},
		{[]string{"run"}, false},
		{[]string{"run", "app", "--", "-e", "top"}, false},
		{[]string{"run", "--memory", "2G", "app"}, false},
		{[]string{"run", "app", "--cgroup-manager=cgroupfs"}, false},
		{[]string{"run", "app", "-h"}, false},
		{[]string{"run", "-", "app"}, false},
		{[]string{"spec", "app"}, false},
		{[]string{"help", "run"}, false},
	} {
		ref, rest, ok := plainRun(tc.args)
		if ok != tc.plain {
			t.Errorf("plainRun(%q) takes it: %v, want %v", tc.args, ok, tc.plain)
			continue
		}
		if !ok {
			continue
		}
		var tree []launched
		launch = func(ref string, args []string, rf *resourceFlags) (int, error) {
			tree = append(tree, record(ref, args, rf))
			return 0, nil
		}
		root := newRootCommand(tc.args)
		root.SetArgs(tc.args)
		if err := root.Execute(); err != nil || len(tree) != 1 {
			t.Fatalf("nook %q: the command tree returned %v after %d launches", tc.args, err, len(tree))
		}
		if got := record(ref, rest, defaultResourceFlags()); !reflect.DeepEqual(got, tree[0]) {
			t.Errorf("nook %q: main launches\n%+v\nthe command tree\n%+v", tc.args, got, tree[0])
		}
	}
}

// TestPlainRunKnowsEveryFlag fails when nook run gains a flag: plainRun
// assumes every flag is at its default, so defaultResourceFlags must set
// the new one's (and TestPlainRun then checks it does).
func TestPlainRunKnowsEveryFlag(t *testing.T) {
	known := map[string]bool{"help": true, "cgroup-manager": true, "ignore-unsupported-limits": true}
	for _, k := range profiles.ResourceKeys {
		known[strings.ReplaceAll(k, "_", "-")] = true
	}
	newRunCommand().Flags().VisitAll(func(f *pflag.Flag) {
		if !known[f.Name] {
			t.Errorf("nook run has a flag --%s that defaultResourceFlags and this test do not know", f.Name)
		}
	})
}
