package recipe_test

// Kernel tests of nook build on a real Debian bookworm image (see
// bootstraptest): run steps in build sandboxes, their deletions as
// whiteouts, copy steps, and the step cache.

import (
	"archive/tar"
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/image/bootstrap/bootstraptest"
	"github.com/nook-sandbox/nook/image/recipe"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// bookworm returns a scratch directory, a store in it holding Debian
// bookworm, and bookworm's reference.
func bookworm(t *testing.T) (string, *image.Store, string) {
	t.Helper()
	dir := sandboxtest.ScratchDir(t)
	st, err := image.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, st, bootstraptest.Bookworm(t, st)
}

func TestBuild(t *testing.T) {
	dir, st, from := bookworm(t)
	if err := os.WriteFile(filepath.Join(dir, "hello.conf"), []byte("greeting = hi\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	src := `from = "` + from + `"
tag = "test/built:1"
env = { GREETING = "from the recipe" }

[[step]]
run = "rm /etc/debian_version && rm -r /usr/share/doc && mkdir -p /opt/x && echo \"$GREETING\" > /opt/x/f && id -u > /opt/x/uid"

[[step]]
copy = { src = "hello.conf", dst = "/etc/nook/hello.conf" }
`
	file := filepath.Join(dir, "r.toml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := recipe.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := recipe.Build(r, recipe.Options{Store: st, Stdout: os.Stderr, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ran != 2 || res.Cached != 0 {
		t.Errorf("first build ran %d steps, %d cached; want 2, 0", res.Ran, res.Cached)
	}
	img, err := st.Resolve("test/built:1")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 3 {
		t.Fatalf("%d layers, want the base and one per step", len(img.Layers))
	}
	run := img.Layers[1].Dir
	// Deletions are whiteouts in the step's layer; the base is untouched.
	for _, wh := range []string{"etc/debian_version", "usr/share/doc"} {
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(run, wh), &s); err != nil || s.Mode&unix.S_IFMT != unix.S_IFCHR || s.Rdev != 0 {
			t.Errorf("%s in the step's layer: %v, mode %o; want a whiteout (char 0/0)", wh, err, s.Mode)
		}
	}
	if _, err := os.Stat(filepath.Join(img.Layers[0].Dir, "etc/debian_version")); err != nil {
		t.Errorf("the base layer lost etc/debian_version: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(run, "opt/x/f")); string(b) != "from the recipe\n" {
		t.Errorf("opt/x/f = %q; want the recipe's env in the step", b)
	}
	if b, _ := os.ReadFile(filepath.Join(run, "opt/x/uid")); string(b) != "0\n" {
		t.Errorf("the step ran as uid %q inside, want 0", b)
	}
	for _, leak := range []string{"run/nook", "etc/resolv.conf", "proc/1"} {
		if _, err := os.Lstat(filepath.Join(run, leak)); err == nil {
			t.Errorf("%s leaked into the step's layer", leak)
		}
	}
	cp := filepath.Join(img.Layers[2].Dir, "etc/nook/hello.conf")
	if fi, err := os.Stat(cp); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("copied file: %v, %v; want mode 0640", fi, err)
	}
	// The steps' layers say their files are root's, rootless too (where
	// the step's root is the caller's uid on the host).
	for i, l := range img.Layers[1:] {
		blob := filepath.Join(st.Root(), "oci", "blobs", "sha256", strings.TrimPrefix(l.DiffID, "sha256:"))
		f, err := os.Open(blob)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(f)
		n := 0
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			n++
			if hdr.Uid != 0 || hdr.Gid != 0 {
				t.Errorf("layer %d: %s owned by %d:%d, want 0:0", i+1, hdr.Name, hdr.Uid, hdr.Gid)
			}
		}
		f.Close()
		if n == 0 {
			t.Errorf("layer %d: no entries read from %s", i+1, blob)
		}
	}
	if !strings.Contains(strings.Join(img.Config.Env, " "), "GREETING=from the recipe") {
		t.Errorf("image env %q lacks the recipe's", img.Config.Env)
	}

	// An unchanged recipe runs nothing; a changed step re-runs it and
	// what follows, not what precedes.
	res, err = recipe.Build(r, recipe.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ran != 0 || res.Cached != 2 {
		t.Errorf("second build ran %d steps, %d cached; want 0, 2", res.Ran, res.Cached)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.conf"), []byte("greeting = hello\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	res, err = recipe.Build(r, recipe.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ran != 1 || res.Cached != 1 {
		t.Errorf("build after changing the copied file ran %d, %d cached; want 1, 1", res.Ran, res.Cached)
	}
}

// TestBuildStepFails: a failing step stops the build with the recipe's
// file and line, and tags nothing.
func TestBuildStepFails(t *testing.T) {
	dir, st, from := bookworm(t)
	file := filepath.Join(dir, "r.toml")
	os.WriteFile(file, []byte("from = \""+from+"\"\ntag = \"test/fails:1\"\n\n[[step]]\nrun = \"exit 3\"\n"), 0o644)
	r, err := recipe.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = recipe.Build(r, recipe.Options{Store: st})
	if err == nil || !strings.Contains(err.Error(), file+":4: step 1 (run exit 3): exit status 3") {
		t.Errorf("error %v, want it to name %s:4 and the exit status", err, file)
	}
	if _, err := st.Resolve("test/fails:1"); err == nil {
		t.Errorf("a failed build was tagged")
	}
}

// TestBuildKilled: a build killed in the middle of a step leaves its step
// directory behind; the next build removes it and succeeds, and the step
// cache holds only finished steps.
func TestBuildKilled(t *testing.T) {
	dir, st, from := bookworm(t)
	file := filepath.Join(dir, "r.toml")
	os.WriteFile(file, []byte("from = \""+from+"\"\ntag = \"test/killed:1\"\n\n[[step]]\nrun = \"echo started; touch /partial; sleep 60\"\n"), 0o644)
	// The build runs in a child: this test binary, told to build.
	cmd := exec.Command(os.Args[0], "-test.run", "^TestBuildChild$")
	cmd.Env = append(os.Environ(), "NOOK_TEST_BUILD="+file, "NOOK_TEST_STORE="+filepath.Join(dir, "store"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "started" {
	}
	cmd.Process.Kill() // SIGKILL: init and the step die with it
	cmd.Wait()
	left, _ := filepath.Glob(filepath.Join(dir, "store", "tmp", "build-*"))
	if len(left) == 0 {
		t.Fatal("a killed build left no step directory; the test did not kill it mid-step")
	}

	os.WriteFile(file, []byte("from = \""+from+"\"\ntag = \"test/killed:1\"\n\n[[step]]\nrun = \"touch /done\"\n"), 0o644)
	r, err := recipe.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := recipe.Build(r, recipe.Options{Store: st})
	if err != nil {
		t.Fatalf("build after a killed one: %v", err)
	}
	if res.Ran != 1 {
		t.Errorf("ran %d steps, want 1", res.Ran)
	}
	for _, d := range left {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s of the killed build is still there", d)
		}
	}
}

// TestBuildChild is TestBuildKilled's child process; it does nothing
// unless NOOK_TEST_BUILD is set.
func TestBuildChild(t *testing.T) {
	file := os.Getenv("NOOK_TEST_BUILD")
	if file == "" {
		return
	}
	st, err := image.Open(os.Getenv("NOOK_TEST_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := recipe.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	recipe.Build(r, recipe.Options{Store: st, Stdout: os.Stdout, Stderr: os.Stderr})
}
