package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/devices/x11test"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// TestDesktopXclockInSandbox runs the built-in xclock profile on a real X
// server that requires a cookie, and looks at the screen: the clock must be
// drawn, and must go away when nook is told to stop.
func TestDesktopXclockInSandbox(t *testing.T) {
	nook := sandboxtest.Nook(t)
	x := x11test.StartXvfb(t)

	// Fresh HOME and XDG directories, and an empty working directory (nook
	// would take ./xclock.toml over the built-in profile).
	dir := sandboxtest.ScratchDir(t)
	for _, d := range []string{"home", "config", "data", "cache", "state", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runtimeDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nook, "run", "xclock")
	cmd.Dir = filepath.Join(dir, "work")
	cmd.Env = append(x11test.Environ("DISPLAY", "XAUTHORITY", "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
		"XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "WAYLAND_DISPLAY"),
		append(x.Env(),
			"HOME="+filepath.Join(dir, "home"),
			"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
			"XDG_DATA_HOME="+filepath.Join(dir, "data"),
			"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
			"XDG_STATE_HOME="+filepath.Join(dir, "state"),
			"XDG_RUNTIME_DIR="+runtimeDir,
		)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nook run xclock: %v\nstdout:\n%s\nstderr:\n%s", cmd.ProcessState, &stdout, &stderr)
		}
	})

	// Wait for the window, or for nook to give up.
	var w x11test.Window
	for deadline := time.Now().Add(30 * time.Second); ; {
		var err error
		if w, err = x11test.FindWindow(x, "xclock"); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("nook run xclock exited (%s) before xclock's window appeared; stderr:\n%s", cmd.ProcessState, &stderr)
		default:
		}
		if time.Now().After(deadline) {
			x.SaveScreenshot(t, x11test.ArtifactPath(t, "no-window.png"))
			t.Fatalf("after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	img := x11test.WaitForDrawn(t, x, w, 10*time.Second)
	x11test.SavePNG(t, img, x11test.ArtifactPath(t, "xclock.png"))
	if n := x11test.DistinctColors(x11test.Crop(img, w.Bounds)); n < 2 {
		t.Errorf("xclock's window shows %d colours, want a drawn face", n)
	}

	// SIGTERM goes to the app, which dies of it: nook exits 128+15.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatalf("nook run xclock still runs 5s after SIGTERM")
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		t.Fatal(waitErr)
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("nook after SIGTERM: %s, want exit status %d", cmd.ProcessState, 128+int(syscall.SIGTERM))
	}
	// The server sees the client go and destroys its window.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := x11test.FindWindow(x, "xclock"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("xclock's window is still on the screen 5s after nook exited")
		}
	}
}
