package cgroup_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/cgroup/cgrouptest"
)

// TestManagers runs the shared suite against every manager. One the host
// lacks is skipped with the reason, unless $NOOK_REQUIRE_CGROUP_MANAGERS
// (comma-separated names, as the VM tier sets) lists it: then it fails.
func TestManagers(t *testing.T) {
	required := strings.Split(os.Getenv("NOOK_REQUIRE_CGROUP_MANAGERS"), ",")
	for _, name := range []string{cgroup.FSv1, cgroup.FSv2, cgroup.Systemd} {
		t.Run(name, func(t *testing.T) {
			m, err := cgroup.New(name)
			if err != nil {
				if slices.Contains(required, name) {
					t.Fatalf("required manager %s: %v", name, err)
				}
				t.Skipf("%s: %v", name, err)
			}
			cgrouptest.Run(t, m)
		})
	}
}
