package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

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

// nookELF opens the nook binary the tests run (built by scripts/build, not
// stripped) and reads its symbol table, so that a test checks what ships,
// wherever the test binary runs.
func nookELF(t *testing.T) (*elf.File, []elf.Symbol) {
	f, err := elf.Open(sandboxtest.Nook(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("reading nook's symbols (is it stripped?): %v", err)
	}
	if len(syms) < 1000 {
		t.Fatalf("nook has %d symbols; want a Go binary's thousands", len(syms))
	}
	return f, syms
}

func TestNookLinksNoImageStack(t *testing.T) {
	_, syms := nookELF(t)
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

// TestNookLinksNoLibseccompNorGlibc: nook is a static musl binary (see
// scripts/build), so it links no libseccomp, whose Debian archive needs
// glibc: nook-image compiles seccomp filters for it.
func TestNookLinksNoLibseccompNorGlibc(t *testing.T) {
	f, syms := nookELF(t)
	has := func(name string) bool {
		return slices.ContainsFunc(syms, func(s elf.Symbol) bool { return s.Name == name })
	}
	if !has("__libc_start_main") {
		t.Fatal("nook has no symbol __libc_start_main: the check reads the wrong names")
	}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "seccomp_") || strings.HasPrefix(s.Name, "github.com/seccomp/libseccomp-golang.") {
			t.Fatalf("nook links libseccomp (symbol %s): only nook-image may", s.Name)
		}
	}
	// glibc's static start code: __libc_setup_tls, and crt1.o's ABI note.
	if has("__libc_setup_tls") || f.Section(".note.ABI-tag") != nil {
		t.Error("nook is linked against glibc; scripts/build links it against musl")
	}
}

// TestSeccompCacheMissRunsNookImage: nook compiles no seccomp policy
// itself; on a cache miss it runs nook-image. Without nook-image beside
// it, a miss fails and says what is missing; a hit does not need it.
func TestSeccompCacheMissRunsNookImage(t *testing.T) {
	e := newE2E(t)
	// This run's own policy (the getpid value), so that the first launch
	// misses the cache (/var/cache/nook, as root, outlives tests).
	policy := fmt.Sprintf(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
		{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
		{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": %d, "op": "SCMP_CMP_EQ"}]}]}`, rand.Uint64()|1)
	path := filepath.Join(e.dir, "policy.json")
	if err := os.WriteFile(path, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	getppid, getpid := strconv.Itoa(unix.SYS_GETPPID), strconv.Itoa(unix.SYS_GETPID)
	prof := e.profile("custom", fmt.Sprintf("[security]\nseccomp = %q\n", path), "/probe/probe", "syscalls", getppid, getpid)
	lonely := filepath.Join(e.dir, "lonely", "nook")
	b, err := os.ReadFile(e.nook)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(lonely), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lonely, b, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(nook string) (int, string, string) {
		cmd := e.command("run", prof)
		cmd.Path = nook
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}
	want := map[string]string{getpid: "", getppid: "ENOMSG"}

	code, _, stderr := run(lonely)
	if missing := filepath.Join(filepath.Dir(lonely), "nook-image") + " is missing"; code != 125 || !strings.Contains(stderr, missing) {
		t.Fatalf("miss without nook-image: exit %d, stderr %q; want 125 and %q", code, stderr, missing)
	}
	for _, nook := range []string{e.nook, lonely} { // a miss, then a hit
		code, stdout, stderr := run(nook)
		var got map[string]string
		if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || !maps.Equal(got, want) {
			t.Errorf("%s: exit %d, stdout %q, want %v; stderr:\n%s", nook, code, stdout, want, stderr)
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
		want := "nook: " + filepath.Join(dir, "nook-image") + " is missing: nook runs it for image commands and to compile seccomp filters; build it beside nook with scripts/build -o " + lonely + " (in nook's source)\n"
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 125 || string(out) != want {
			t.Errorf("nook %q without nook-image: %v, %q; want exit 125, %q", args, err, out, want)
		}
	}
}
