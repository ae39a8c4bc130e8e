package sandbox_test

// Kernel tests of image roots: a real overlayfs root made of layer
// directories written here in the OCI-unpacked form (whiteouts as 0/0
// character devices, opaque directories by the user.overlay.opaque xattr),
// with the static probe as the image's only program.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/plan"
	"github.com/nook-sandbox/nook/profiles"
	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
	"github.com/nook-sandbox/nook/sandbox/seccomp/compiler"
)

const imageRef = "test/probe:1"

// image is a layered test image and the app directories of its runs.
type image struct {
	t       *testing.T
	scratch string
	layers  []string // base first
}

// newImage makes an image of n ≥ 2 layers. Layer 0 holds /bin/probe,
// /etc/passwd, /etc/group, /etc/hidden, /etc/version ("0"), /opq/a and
// /proc, /dev, /tmp, /run, /home; layer i adds /layers/i; the top layer
// also whites out /etc/hidden, makes /opq opaque with /opq/b in it and
// replaces /etc/version with "top". nameLen pads the layer directories'
// names to that length.
func newImage(t *testing.T, n, nameLen int) *image {
	t.Helper()
	im := &image{t: t, scratch: sandboxtest.ScratchDir(t)}
	probe, err := os.ReadFile(sandboxtest.Probe(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("layer%d-", i)
		name += strings.Repeat("x", max(0, nameLen-len(name)))
		dir := filepath.Join(im.scratch, name)
		files := map[string]string{fmt.Sprintf("layers/%d", i): "layer"}
		switch i {
		case 0:
			files["bin/probe"] = string(probe)
			files["etc/passwd"] = "root:x:0:0::/root:/bin/sh\n"
			files["etc/group"] = "root:x:0:\n"
			files["etc/hidden"] = "secret"
			files["etc/version"] = "0"
			files["opq/a"] = "a"
			for _, d := range []string{"proc", "dev", "tmp", "run", "home"} {
				mkdir(t, filepath.Join(dir, d))
			}
		case n - 1:
			files["etc/version"] = "top"
			files["opq/b"] = "b"
		}
		for p, data := range files {
			mode := os.FileMode(0o644)
			if p == "bin/probe" {
				mode = 0o755
			}
			mkdir(t, filepath.Join(dir, filepath.Dir(p)))
			if err := os.WriteFile(filepath.Join(dir, p), []byte(data), mode); err != nil {
				t.Fatal(err)
			}
		}
		if i == n-1 {
			if err := unix.Mknod(filepath.Join(dir, "etc/hidden"), unix.S_IFCHR, 0); err != nil {
				t.Fatalf("making a whiteout: %v", err)
			}
			if err := unix.Setxattr(filepath.Join(dir, "opq"), "user.overlay.opaque", []byte("y"), 0); err != nil {
				t.Fatalf("making an opaque dir: %v", err)
			}
		}
		im.layers = append(im.layers, dir)
	}
	return im
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// run runs the probe with args on the image under a profile with body
// toml, and returns its stdout.
func (im *image) run(toml string, args ...string) string {
	t := im.t
	t.Helper()
	src := fmt.Sprintf("name = \"img\"\ncommand = [\"/bin/probe\"]\nimage = %q\n%s", imageRef, toml)
	prof, err := profiles.Parse(filepath.Join(im.scratch, "img.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	host, err := plan.ProbeHost(prof, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	host.HomesDir = filepath.Join(im.scratch, "homes")
	host.RootsDir = filepath.Join(im.scratch, "roots")
	host.Image = &plan.Image{Ref: imageRef, Layers: im.layers}
	pl, err := plan.Compile(prof, host, args)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.PrepareHome(prof.ID()); err != nil {
		t.Fatal(err)
	}
	if prof.Filesystem.Root != profiles.Ephemeral {
		if _, err := host.PrepareRoot(prof.ID()); err != nil {
			t.Fatal(err)
		}
	}
	filter, err := compiler.Compile(pl.Spec.Linux.Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(im.scratch, "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	code, err := sandbox.Run(pl, sandbox.Options{Filter: filter, Stdio: sandbox.Stdio{Out: out, Err: os.Stderr}})
	data, _ := os.ReadFile(out.Name())
	if err != nil || code != 0 {
		t.Fatalf("probe %v on the image: exit %d, %v\n%s", args, code, err, data)
	}
	return string(data)
}

// stat runs probe stat and returns the sizes (-1: missing).
func (im *image) stat(toml string, paths ...string) map[string]int64 {
	im.t.Helper()
	var m map[string]int64
	out := im.run(toml, append([]string{"stat"}, paths...)...)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		im.t.Fatalf("probe stat: %v\n%s", err, out)
	}
	return m
}

// probeErr runs "probe CMD PATH" and returns its error field.
func (im *image) probeErr(toml, cmd, path string) (string, string) {
	im.t.Helper()
	var m map[string]string
	out := im.run(toml, cmd, path)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		im.t.Fatalf("probe %s: %v\n%s", cmd, err, out)
	}
	return m["data"], m["error"]
}

// TestImageLayers: the app sees the union of the layers, top-most wins,
// a whiteout hides a lower file, an opaque dir hides a lower dir's
// entries, and none of the host's /usr, /etc or /bin is there.
func TestImageLayers(t *testing.T) {
	for _, tc := range []struct {
		name            string
		layers, nameLen int
	}{
		{"two layers", 2, 0},
		{"twelve layers", 12, 0},
		// 40 layers of 200-byte paths: 8 KB of lowerdir, twice the
		// kernel's one-page limit on mount options.
		{"forty long-named layers", 40, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := newImage(t, tc.layers, tc.nameLen)
			paths := []string{"/etc/hidden", "/opq/a", "/opq/b", "/bin/probe", "/usr/bin/env", "/usr", "/etc/os-release", "/bin/sh"}
			for i := 0; i < tc.layers; i++ {
				paths = append(paths, fmt.Sprintf("/layers/%d", i))
			}
			got := im.stat("[filesystem]\nroot = \"ephemeral\"\n", paths...)
			for _, p := range paths {
				want := p != "/etc/hidden" && p != "/opq/a" && !strings.HasPrefix(p, "/usr") && p != "/etc/os-release" && p != "/bin/sh"
				if (got[p] >= 0) != want {
					t.Errorf("%s: size %d, want present = %v", p, got[p], want)
				}
			}
			if data, errs := im.probeErr("[filesystem]\nroot = \"ephemeral\"\n", "read", "/etc/version"); data != "top" || errs != "" {
				t.Errorf("/etc/version = %q (%s), want the top layer's \"top\"", data, errs)
			}
		})
	}
}

// TestImageRootPersistence: a persistent root keeps what the app wrote
// between runs, in the app's upper dir; an ephemeral root does not.
func TestImageRootPersistence(t *testing.T) {
	for _, tc := range []struct {
		root string
		keep bool
	}{
		{"persistent", true},
		{"ephemeral", false},
	} {
		t.Run(tc.root, func(t *testing.T) {
			im := newImage(t, 3, 0)
			toml := fmt.Sprintf("[filesystem]\nroot = %q\n", tc.root)
			if _, errs := im.probeErr(toml, "write", "/kept"); errs != "" {
				t.Fatalf("writing /kept on a %s root: %s", tc.root, errs)
			}
			if got := im.stat(toml, "/kept")["/kept"]; (got >= 0) != tc.keep {
				t.Errorf("/kept after a second run: size %d, want kept = %v", got, tc.keep)
			}
			upper := filepath.Join(im.scratch, "roots", "img", "upper", "kept")
			if _, err := os.Stat(upper); (err == nil) != tc.keep {
				t.Errorf("%s in the upper dir: %v, want present = %v", upper, err, tc.keep)
			}
		})
	}
}

// TestImageLayersUnchanged: whatever the app writes, the layer directories
// do not change: writes land in the upper dir or fail.
func TestImageLayersUnchanged(t *testing.T) {
	im := newImage(t, 3, 0)
	before := treeHash(t, im.layers)
	for _, p := range []string{"/etc/version", "/etc/new", "/layers/0", "/layers/2", "/bin/probe", "/opq/b", "/new", "/etc/hidden"} {
		_, errs := im.probeErr("", "write", p)
		t.Logf("write %s: %q", p, errs)
	}
	if after := treeHash(t, im.layers); after != before {
		t.Errorf("layer directories changed after the app wrote into its root")
	}
	// What the app could write is in its upper dir.
	if _, err := os.Stat(filepath.Join(im.scratch, "roots", "img", "upper", "new")); err != nil {
		t.Errorf("the app's write to /new is not in its upper dir: %v", err)
	}
}

// treeHash hashes names, modes, sizes, contents and link targets under dirs.
func treeHash(t *testing.T, dirs []string) string {
	t.Helper()
	h := sha256.New()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			st, err := os.Lstat(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %v %d\n", p, st.Mode(), st.Size())
			if st.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h.Write(b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestImageLockdown: invariants 1 and 2 hold on an image root too: the
// app is not host root and holds no capability, with no_new_privs.
func TestImageLockdown(t *testing.T) {
	im := newImage(t, 2, 0)
	var st statusReport
	out := im.run("", "status")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("probe status: %v\n%s", err, out)
	}
	if st.UID == 0 || st.EUID == 0 {
		t.Errorf("app runs as uid %d (euid %d) on an image root", st.UID, st.EUID)
	}
	if os.Getuid() != 0 && st.UID != os.Getuid() {
		t.Errorf("rootless app uid %d, want %d", st.UID, os.Getuid())
	}
	for _, f := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if st.Self[f] != zeroCaps {
			t.Errorf("app %s = %q on an image root", f, st.Self[f])
		}
	}
	if st.Self["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %q", st.Self["NoNewPrivs"])
	}
}
