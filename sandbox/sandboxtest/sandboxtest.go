// Package sandboxtest is nook's test kit for kernel-level tests: it builds
// (or finds) the nook binary and the probe that reports from inside a
// sandbox, and makes scratch directories that sandboxed apps of any uid can
// read.
//
// Binaries come from $NOOK_BIN and $NOOK_PROBE when set (the test script
// builds them once, so tests can run as an unprivileged user without a Go
// toolchain cache); otherwise they are built into a temporary directory.
package sandboxtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// RepoRoot returns the directory holding nook's go.mod, found by walking up
// from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find nook's go.mod above the working directory; set NOOK_BIN and NOOK_PROBE")
		}
		dir = parent
	}
}

// SharedDir returns the project's shared directory (reference data):
// $NOOK_SHARED, or ../shared beside the repository.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("NOOK_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "reference")); err != nil {
		t.Fatalf("shared reference data not found at %s (set NOOK_SHARED): %v", dir, err)
	}
	return dir
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// build returns $env if set, else the binary name in the build directory,
// made once by the command that command returns for its output path (run
// in the repository).
func build(t testing.TB, env, name string, command func(out string) *exec.Cmd) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "nook-test-bin-")
		if buildErr == nil {
			buildErr = os.Chmod(buildDir, 0o755)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	out := filepath.Join(buildDir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	cmd := command(out)
	cmd.Dir = RepoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return out
}

// Nook returns the path of a nook binary, built as it ships: statically, by
// scripts/build, with nook-image (which nook runs for the image commands)
// beside it. $NOOK_BIN must have nook-image beside it too.
func Nook(t testing.TB) string {
	return build(t, "NOOK_BIN", "nook", func(out string) *exec.Cmd {
		return exec.Command(filepath.Join(RepoRoot(t), "scripts", "build"), "-o", out)
	})
}

// Probe returns the path of the static probe binary.
func Probe(t testing.TB) string {
	return build(t, "NOOK_PROBE", "probe", func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-o", out, "./sandbox/sandboxtest/probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		return cmd
	})
}

// ScratchDir returns a new directory that every uid may read and enter,
// removed when the test ends.
func ScratchDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nook-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// PTY opens a pseudo-terminal pair: pty is the controlling side, tty the
// terminal a program under test gets. Both are closed when the test ends.
func PTY(t testing.TB) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pty.Close() })
	if err := unix.IoctlSetPointerInt(int(pty.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(pty.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return pty, tty
}
