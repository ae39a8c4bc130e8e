package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestNookLinksNoImageStack reads the symbol table of the nook binary the
// tests run (built by scripts/build, not stripped), so it checks what
// ships, wherever the test binary runs.
func TestNookLinksNoImageStack(t *testing.T) {
	f, err := elf.Open(sandboxtest.Nook(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("reading nook's symbols (is it stripped?): %v", err)
	}
	if len(syms) < 1000 {
		t.Fatalf("nook has %d symbols; want a Go binary's thousands", len(syms))
	}
	seen := map[string]bool{}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "github.com/nook-sandbox/nook/image/layout.") {
			continue
		}
		for _, bad := range notInNook {
			if !seen[bad] && (strings.HasPrefix(s.Name, bad+".") || strings.HasPrefix(s.Name, bad+"/")) {
				seen[bad] = true
				t.Errorf("nook links %s (symbol %s): keep it in nook-image", bad, s.Name)
			}
		}
	}
	if !slices.ContainsFunc(syms, func(s elf.Symbol) bool { return strings.HasPrefix(s.Name, "github.com/nook-sandbox/nook/sandbox.Run") }) {
		t.Error("nook has no symbol sandbox.Run: the check reads the wrong names")
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
