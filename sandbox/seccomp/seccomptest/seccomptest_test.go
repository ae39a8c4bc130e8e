package seccomptest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDockerDeniedNoCaps(t *testing.T) {
	denied, err := DockerDeniedNoCaps(Reference(t, "docker-default.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(denied) {
		t.Error("result is not sorted")
	}
	native, err := NativeSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range denied {
		if !slices.Contains(native, n) {
			t.Errorf("%s is not a native syscall", n)
		}
	}
	// Capability-gated, absent, or allowed only by entries for other arches.
	for _, n := range []string{"mount", "umount2", "unshare", "setns", "bpf", "keyctl", "clone3", "kexec_load", "io_uring_setup", "chroot", "reboot"} {
		if !slices.Contains(denied, n) {
			t.Errorf("%s is not denied", n)
		}
	}
	// Allowed unconditionally, conditionally (socket, clone) or from kernel 4.8 (ptrace).
	for _, n := range []string{"read", "write", "execve", "ioctl", "socket", "clone", "personality", "ptrace"} {
		if slices.Contains(denied, n) {
			t.Errorf("%s is denied", n)
		}
	}
}

func TestDockerDeniedNoCapsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := DockerDeniedNoCaps(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
	allowAll := filepath.Join(dir, "allow.json")
	if err := os.WriteFile(allowAll, []byte(`{"defaultAction": "SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := DockerDeniedNoCaps(allowAll); err == nil {
		t.Error("allow-by-default profile: no error")
	}
}
