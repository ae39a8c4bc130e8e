package cgroup_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

// BenchmarkCreateDestroy measures what cgroup setup adds to a launch with
// every manager this host has: New (the choice, a D-Bus round trip for
// systemd), Check, Create (limits written, one pid placed) and Destroy.
// Starting the placed process is not timed.
func BenchmarkCreateDestroy(b *testing.B) {
	l := cgroup.Limits{Memory: 256 << 20, PIDs: 64, CPUQuota: 50000, CPUPeriod: 100000}
	for _, name := range []string{cgroup.FSv1, cgroup.FSv2, cgroup.Systemd} {
		b.Run(name, func(b *testing.B) {
			if _, err := cgroup.New(name); err != nil {
				b.Skipf("%s: %v", name, err)
			}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cmd := exec.Command("sleep", "10")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				m, err := cgroup.New(name)
				if err != nil {
					b.Fatal(err)
				}
				if errs := m.Check(l); len(errs) > 0 {
					b.Skipf("%s: %v", name, errs[0])
				}
				g, err := m.Create(cgroup.Spec{App: "bench", Instance: fmt.Sprintf("%d-%d", os.Getpid(), i), PID: cmd.Process.Pid, Limits: l})
				if err != nil {
					b.Fatal(err)
				}
				// The launcher destroys the group once the sandbox has
				// ended: time that, on an emptied group.
				b.StopTimer()
				cmd.Process.Kill()
				cmd.Wait()
				b.StartTimer()
				if err := g.Destroy(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
