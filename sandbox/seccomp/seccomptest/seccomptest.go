// Package seccomptest helps tests prove nook's seccomp invariant: that the
// default policy denies at least what Docker's default profile denies a
// process without capabilities (DESIGN.md, security invariant 3).
//
// It reads Docker's profile with its own small parser, independent of
// package seccomp's loader, so that it can serve as an oracle for it.
package seccomptest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// DockerDeniedNoCaps returns, sorted, the syscalls of the native
// architecture (names libseccomp 2.5+ knows, with a real number there) that
// the Docker modern-format profile at path denies a process holding no
// capabilities, on this architecture and kernel: those no applicable
// SCMP_ACT_ALLOW or SCMP_ACT_LOG entry allows, with or without argument
// conditions. An entry applies unless it includes a capability, includes
// arches without the native one, excludes the native arch, or has a
// minKernel the running kernel fails (includes) or meets (excludes).
func DockerDeniedNoCaps(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("docker profile: %w", err)
	}
	var p struct {
		DefaultAction string `json:"defaultAction"`
		Syscalls      []struct {
			Names    []string `json:"names"`
			Action   string   `json:"action"`
			Includes *filter  `json:"includes"`
			Excludes *filter  `json:"excludes"`
		} `json:"syscalls"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("docker profile %s: %w", path, err)
	}
	if p.DefaultAction == "SCMP_ACT_ALLOW" || p.DefaultAction == "SCMP_ACT_LOG" {
		return nil, fmt.Errorf("docker profile %s: default action %s allows", path, p.DefaultAction)
	}
	kernel, err := runningKernel()
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, e := range p.Syscalls {
		if e.Action != "SCMP_ACT_ALLOW" && e.Action != "SCMP_ACT_LOG" {
			continue
		}
		ok, err := applies(e.Includes, e.Excludes, kernel)
		if err != nil {
			return nil, fmt.Errorf("docker profile %s: %w", path, err)
		}
		for _, n := range e.Names {
			allowed[n] = allowed[n] || ok
		}
	}
	names, err := NativeSyscalls()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(names, func(n string) bool { return allowed[n] }), nil
}

type filter struct {
	Caps      []string `json:"caps"`
	Arches    []string `json:"arches"`
	MinKernel string   `json:"minKernel"`
}

// dockerArch is Docker's name for the native architecture (moby's goToNative).
var dockerArch = map[string]string{"386": "x86", "amd64": "amd64", "arm": "arm", "arm64": "arm64"}[runtime.GOARCH]

func applies(in, ex *filter, kernel [2]int) (bool, error) {
	if ex != nil {
		if slices.Contains(ex.Arches, dockerArch) {
			return false, nil
		}
		if ex.MinKernel != "" {
			atLeast, err := kernelAtLeast(kernel, ex.MinKernel)
			if err != nil || atLeast {
				return false, err
			}
		}
	}
	if in != nil {
		if len(in.Caps) > 0 || len(in.Arches) > 0 && !slices.Contains(in.Arches, dockerArch) {
			return false, nil
		}
		if in.MinKernel != "" {
			atLeast, err := kernelAtLeast(kernel, in.MinKernel)
			if err != nil || !atLeast {
				return false, err
			}
		}
	}
	return true, nil
}

func kernelAtLeast(kernel [2]int, minKernel string) (bool, error) {
	var v [2]int
	if _, err := fmt.Sscanf(minKernel, "%d.%d", &v[0], &v[1]); err != nil {
		return false, fmt.Errorf("bad minKernel %q", minKernel)
	}
	return kernel[0] > v[0] || kernel[0] == v[0] && kernel[1] >= v[1], nil
}

func runningKernel() ([2]int, error) {
	var u unix.Utsname
	var v [2]int
	if err := unix.Uname(&u); err != nil {
		return v, fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	if _, err := fmt.Sscanf(release, "%d.%d", &v[0], &v[1]); err != nil {
		return v, fmt.Errorf("kernel release %q: %w", release, err)
	}
	return v, nil
}

// maxSyscall bounds the native syscall numbers NativeSyscalls looks up; the
// tables of all supported architectures end below it.
const maxSyscall = 1024

// NativeSyscalls returns, sorted, the names of the native architecture's
// syscalls that libseccomp knows, each with a real syscall number there.
func NativeSyscalls() ([]string, error) {
	arch, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("libseccomp native arch: %w", err)
	}
	var names []string
	for nr := range maxSyscall {
		if n, err := libseccomp.ScmpSyscall(nr).GetNameByArch(arch); err == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// SyscallNumber returns name's number on the native architecture, or false
// if it has none there.
func SyscallNumber(name string) (uintptr, bool) {
	nr, err := libseccomp.GetSyscallFromName(name)
	if err != nil || int32(nr) < 0 {
		return 0, false
	}
	return uintptr(nr), true
}

// Reference returns the path of a reference profile (for example
// "docker-default.json") in the project's shared reference data, found by
// sandboxtest.SharedDir ($NOOK_SHARED, or shared/ beside the repository).
// A missing file fails the test, never skips it: the invariant must be
// proven on every run.
func Reference(tb testing.TB, name string) string {
	tb.Helper()
	path := filepath.Join(sandboxtest.SharedDir(tb), "reference", "seccomp", name)
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("reference seccomp profile missing: %v", err)
	}
	return path
}
