package main

import (
	"bytes"
	"fmt"
	"testing"
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
