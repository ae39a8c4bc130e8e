package main

// End-to-end tests of apps on images through the nook binary: nook build
// of a real Debian image with apt-get, nook run of the package's binary
// from a profile with image = "TAG", persistent and ephemeral roots, and
// nook reset. The store is a scratch directory ($NOOK_STORE); the base
// image comes from bootstraptest (debootstrapped once per machine).

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/image/bootstrap/bootstraptest"
)

// imageE2E is an e2e with its own store holding debian:bookworm.
func imageE2E(t *testing.T) (*e2e, *image.Store) {
	t.Helper()
	e := newE2E(t)
	store := filepath.Join(e.dir, "store")
	st, err := image.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	bootstraptest.Bookworm(t, st)
	e.env = append(e.env, "NOOK_STORE="+store)
	return e, st
}

// output runs nook and returns its stdout, failing unless it exits 0.
func (e *e2e) output(args ...string) string {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("nook %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func (e *e2e) write(name, body string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestBuildAndRunDebianImage: bootstrap bookworm, a recipe step that
// apt-get installs hello from Debian's archive, then hello from a profile
// on the built image. Building again runs no step.
func TestBuildAndRunDebianImage(t *testing.T) {
	e, _ := imageE2E(t)
	recipe := e.write("hello-recipe.toml", `from = "debian:bookworm"
tag = "test/hello:1"

[[step]]
run = "apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*"
`)
	out := e.output("build", recipe)
	if !strings.Contains(out, "built test/hello:1 (2 layers; 1 steps run, 0 cached)") {
		t.Errorf("first build said:\n%s", out)
	}
	if out := e.output("build", recipe); !strings.Contains(out, "(cached)") || !strings.Contains(out, "0 steps run, 1 cached") {
		t.Errorf("second build ran steps:\n%s", out)
	}
	t.Cleanup(func() { e.command("reset", "hello").Run() }) // as root, roots are in /var/lib/nook
	prof := e.write("hello.toml", "name = \"hello\"\ncommand = [\"/usr/bin/hello\"]\nimage = \"test/hello:1\"\n[filesystem]\nhome = \"ephemeral\"\n")
	if out := e.output("run", prof); out != "Hello, world!\n" {
		t.Errorf("hello printed %q", out)
	}
	if out := e.output("run", prof, "--", "-g", "hi from nook"); out != "hi from nook\n" {
		t.Errorf("hello -g printed %q", out)
	}
	// The host's /usr is not there: the image's is. The probes are host
	// programs the test packages install and a minimal Debian lacks.
	var hostOnly []string
	for _, p := range []string{"/usr/sbin/debootstrap", "/usr/bin/hyperfine", "/usr/bin/bwrap", "/usr/bin/Xvfb"} {
		if _, err := os.Stat(p); err == nil {
			hostOnly = append(hostOnly, p)
		}
	}
	if len(hostOnly) == 0 {
		t.Fatal("none of the host programs this test looks for is installed; run scripts/deps test")
	}
	sh := e.write("sh.toml", "name = \"imgsh\"\ncommand = [\"/bin/sh\", \"-c\"]\nimage = \"test/hello:1\"\n[filesystem]\nhome = \"ephemeral\"\nroot = \"ephemeral\"\n")
	script := "cat /etc/debian_version; for f in " + strings.Join(hostOnly, " ") + "; do test -e $f && echo host: $f; done; echo done"
	if out := e.output("run", sh, "--", script); !strings.HasPrefix(out, "12.") || strings.Contains(out, "host:") || !strings.HasSuffix(out, "done\n") {
		t.Errorf("on the image (want Debian 12's files, none of the host's %v):\n%s", hostOnly, out)
	}
}

// TestImageRootAndReset: a persistent root keeps what the app wrote, an
// ephemeral one does not, and nook reset discards the persistent one.
func TestImageRootAndReset(t *testing.T) {
	e, st := imageE2E(t)
	body := "name = \"keeper\"\ncommand = [\"/bin/sh\", \"-c\"]\nimage = \"debian:bookworm\"\n[filesystem]\nhome = \"ephemeral\"\nroot = %q\n"
	persistent := e.write("keeper.toml", strings.Replace(body, "%q", `"persistent"`, 1))
	ephemeral := e.write("eph.toml", strings.Replace(strings.Replace(body, "keeper", "eph", 1), "%q", `"ephemeral"`, 1))
	t.Cleanup(func() { e.command("reset", "keeper").Run() })
	e.output("reset", "keeper") // a root left by an earlier run as root
	read := "cat /kept 2>/dev/null || echo missing"
	for _, tc := range []struct {
		prof string
		want string
	}{
		{persistent, "kept\n"},
		{ephemeral, "missing\n"},
	} {
		e.output("run", tc.prof, "--", "echo kept > /kept")
		if got := e.output("run", tc.prof, "--", read); got != tc.want {
			t.Errorf("%s: second run read %q, want %q", filepath.Base(tc.prof), got, tc.want)
		}
	}
	// Not while it runs.
	sleeper := e.command("run", persistent, "--", "echo up; sleep 30")
	stdout, err := sleeper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "up\n" {
		t.Fatalf("running keeper: %q, %v", line, err)
	}
	code, stderr := e.run("reset", "keeper")
	sleeper.Process.Signal(syscall.SIGTERM)
	sleeper.Wait()
	if code != 125 || !strings.Contains(stderr, "keeper is running") {
		t.Errorf("nook reset of a running app: exit %d, %q; want 125 saying it runs", code, stderr)
	}
	if got := e.output("run", persistent, "--", read); got != "kept\n" {
		t.Errorf("a refused reset removed the root: read %q", got)
	}

	out := e.output("reset", "keeper")
	if !strings.HasPrefix(out, "removed ") || !strings.Contains(out, "roots/") || !strings.HasSuffix(out, "/keeper (the persistent root of keeper)\n") {
		t.Errorf("nook reset said %q", out)
	}
	if got := e.output("run", persistent, "--", read); got != "missing\n" {
		t.Errorf("after reset read %q, want missing", got)
	}
	e.output("reset", "keeper")
	if out := e.output("reset", "keeper"); !strings.Contains(out, "nothing to reset") {
		t.Errorf("second reset said %q", out)
	}

	// A layer that is not unpacked ('nook image verify' says "nook unpacks
	// it on next use"): nook run, which only reads the store, has
	// nook-image unpack it.
	img, err := st.Resolve("debian:bookworm")
	if err != nil {
		t.Fatal(err)
	}
	dir := img.Layers[len(img.Layers)-1].Dir
	if err := os.Rename(dir, filepath.Join(e.dir, "layer-gone")); err != nil {
		t.Fatal(err)
	}
	if got := e.output("run", ephemeral, "--", "cat /etc/debian_version"); !strings.HasPrefix(got, "12.") {
		t.Errorf("run with its layer not unpacked printed %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc", "debian_version")); err != nil {
		t.Errorf("the layer was not unpacked again: %v", err)
	}
}
