package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// notInNook are packages nook must not link: the image store's writers and
// registry access, whose package initialisation (regexps compiled,
// compression tables built, TLS and HTTP set up) every launch would pay.
// They belong to nook-image (cmd/nook-image), which nook runs for the
// image commands.
var notInNook = []string{
	"github.com/google/go-containerregistry",
	"github.com/klauspost/compress",
	"github.com/opencontainers/go-digest",
	"github.com/docker",
	"github.com/sirupsen/logrus",
	"github.com/nook-sandbox/nook/image", // but image/layout, the store's reader
	"net/http",
	"crypto/tls",
}

func TestNookLinksNoImageStack(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool (go list -deps)")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Skip("needs nook's source (run from cmd/nook, as go test does)")
	}
	cmd := exec.Command(goTool, "list", "-deps", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		if p == "github.com/nook-sandbox/nook/image/layout" {
			continue
		}
		for _, bad := range notInNook {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				t.Errorf("nook links %s: keep it in nook-image", p)
			}
		}
	}
}

// TestImageHelperMissing: without nook-image beside it, nook says where it
// looked and how to build it, in one line, and exits 125.
func TestImageHelperMissing(t *testing.T) {
	dir := sandboxtest.ScratchDir(t)
	lonely := filepath.Join(dir, "nook")
	b, err := os.ReadFile(sandboxtest.Nook(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lonely, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"image", "ls"}, {"build", "--help"}, {"help", "image"}} {
		cmd := exec.Command(lonely, args...)
		out, err := cmd.CombinedOutput()
		want := "nook: " + filepath.Join(dir, "nook-image") + " is missing: nook runs it for image commands; build it beside nook with scripts/build -o " + lonely + " (in nook's source)\n"
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 125 || string(out) != want {
			t.Errorf("nook %q without nook-image: %v, %q; want exit 125, %q", args, err, out, want)
		}
	}
}
