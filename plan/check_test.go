package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/nook-sandbox/nook/profiles"
)

// Check refuses, without a host, what Compile would refuse on any host.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "" means no error
		unsupp     bool
	}{
		{"fine", "", "", false},
		{"audio", "[audio]\npulse = true\n", "audio.pulse", true},
		{"bridge", "[network]\nmode = \"bridge\"\n", "network.mode", true},
		{"image", "image = \"debian:bookworm\"\n", "", false},
		{"unknown syscall", "[security]\nallow_syscalls = [\"no_such_call\"]\n", "no_such_call", false},
		{"unconfined with lists", "[security]\nseccomp = \"unconfined\"\ndeny_syscalls = [\"ptrace\"]\n", "allow_syscalls and deny_syscalls", false},
		{"missing JSON", "[security]\nseccomp = \"/nonexistent/policy.json\"\n", "/nonexistent/policy.json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := profiles.Parse("check.toml", []byte("name = \"c\"\ncommand = [\"/bin/true\"]\n"+tc.body))
			if err != nil {
				t.Fatal(err)
			}
			err = Check(p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tc.want == "":
				return
			case err == nil:
				t.Fatalf("Check accepted a profile with %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "check.toml: ") {
				t.Errorf("error %q does not start with the file and name %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupp {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", !tc.unsupp, tc.unsupp)
			}
		})
	}
}
