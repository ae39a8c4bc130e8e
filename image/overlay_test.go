package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/nook-sandbox/nook/image/imagetest"
)

// overlayLayers is a three-layer image exercising the OCI rules: a later
// layer's whiteout hides a lower file and a lower directory, an opaque
// directory hides everything below it, and a file replaced in a later layer
// shows the later content.
func overlayLayers(t testing.TB) [][]byte {
	return [][]byte{
		imagetest.Layer(t,
			imagetest.Dir("etc/"), imagetest.Reg("etc/gone", "base"), imagetest.Reg("etc/keep", "base"),
			imagetest.Reg("etc/changed", "base"),
			imagetest.Dir("opq/"), imagetest.Reg("opq/hidden", "base"), imagetest.Dir("deldir/"), imagetest.Reg("deldir/f", "base")),
		imagetest.Layer(t,
			imagetest.Dir("etc/"), imagetest.Whiteout("etc/gone"), imagetest.Reg("etc/changed", "middle"),
			imagetest.Whiteout("deldir"), imagetest.Dir("opq/"), imagetest.Opaque("opq"), imagetest.Reg("opq/new", "middle")),
		imagetest.Layer(t, imagetest.Reg("top", "top")),
	}
}

// wantOverlay is what the merged view of overlayLayers must show.
const wantOverlay = "etc/ etc/changed=middle etc/keep=base opq/ opq/new=middle top=top"

// mergedView mounts lowers (top first) as a read-only overlay in a new
// mount namespace (and a new user namespace with userxattr when userns is
// set), and lists it: "dir/" for directories, "file=content" for files.
func mergedView(t *testing.T, lowers []string, userns bool) string {
	t.Helper()
	mnt := t.TempDir()
	os.Chmod(mnt, 0o755)
	opts := "lowerdir=" + strings.Join(lowers, ":")
	args := []string{"--mount"}
	if userns {
		opts += ",userxattr"
		args = append(args, "--user", "--map-root-user")
	}
	script := fmt.Sprintf(`mount -t overlay overlay -o %s %s && cd %s && find . -mindepth 1 | sort | while read f; do if [ -d "$f" ]; then echo "${f#./}/"; else echo "${f#./}=$(cat "$f")"; fi; done`, opts, mnt, mnt)
	cmd := exec.Command("unshare", append(args, "sh", "-c", script)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if userns && bytes.Contains(out, []byte("Operation not permitted")) {
			if b, _ := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); strings.TrimSpace(string(b)) == "0" {
				t.Skip("kernel: unprivileged user namespaces disabled (kernel.unprivileged_userns_clone=0)")
			}
		}
		t.Fatalf("overlay mount (%s): %v\n%s", opts, err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func reversedDirs(img *Image) []string {
	var dirs []string
	for i := len(img.Layers) - 1; i >= 0; i-- {
		dirs = append(dirs, img.Layers[i].Dir)
	}
	return dirs
}

// TestOverlayWhiteouts builds an image through AddLayer and Commit, then
// mounts its unpacked layers with overlayfs the way nook does: in a user
// namespace with userxattr (rootless and root), and as real root without
// it. Whiteouts and opaque dirs must hide the lower files.
func TestOverlayWhiteouts(t *testing.T) {
	s := openStore(t)
	var layers []Layer
	for _, b := range overlayLayers(t) {
		l, err := s.AddLayer(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	if _, err := s.Commit("test/overlay:1", layers, v1.Config{Cmd: []string{"/top"}}); err != nil {
		t.Fatal(err)
	}
	img, err := s.Resolve("test/overlay:1")
	if err != nil {
		t.Fatal(err)
	}
	if img.Ref != "index.docker.io/test/overlay:1" || len(img.Layers) != 3 || img.Config.Cmd[0] != "/top" {
		t.Fatalf("Resolve = %+v", img)
	}
	os.Chmod(filepath.Dir(s.Root()), 0o755)
	t.Run("userns+userxattr", func(t *testing.T) {
		if got := mergedView(t, reversedDirs(img), true); got != wantOverlay {
			t.Errorf("merged view\n got %s\nwant %s", got, wantOverlay)
		}
	})
	if privileged() {
		t.Run("root", func(t *testing.T) {
			if got := mergedView(t, reversedDirs(img), false); got != wantOverlay {
				t.Errorf("merged view\n got %s\nwant %s", got, wantOverlay)
			}
		})
		t.Run("unpacked-by-unprivileged-uid", func(t *testing.T) { rootlessStore(t) })
	}
}

// rootlessStore (as root) re-runs this test binary as uid 65534 to unpack
// the layers into a store of its own, the way a user's store is made, and
// mounts them in a user namespace as that user.
func rootlessStore(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	os.Chmod(filepath.Dir(dir), 0o755)
	exe := filepath.Join(dir, "image.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestOverlayWhiteouts$", "-test.v")
	cmd.Env = append(os.Environ(), "TMPDIR="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestOverlayWhiteouts/userns+userxattr")) {
		t.Fatalf("as uid 65534: %v\n%s", err, out)
	}
}

// TestWriteLayerTar turns a real overlay upper dir (with a whiteout made by
// overlayfs itself and an opaque directory) into a layer and checks the
// round trip through AddLayer and a merged view.
func TestWriteLayerTar(t *testing.T) {
	s := openStore(t)
	base, err := s.AddLayer(bytes.NewReader(imagetest.Layer(t,
		imagetest.Dir("d/"), imagetest.Reg("d/old", "o"), imagetest.Reg("gone", "g"), imagetest.Reg("keep", "k"))))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	os.Chmod(work, 0o755)
	t.Cleanup(func() { removeTree(work) }) // overlay's work/work is mode 0
	upper, wd, mnt := filepath.Join(work, "upper"), filepath.Join(work, "work"), filepath.Join(work, "mnt")
	for _, d := range []string{upper, wd, mnt} {
		os.Mkdir(d, 0o755)
	}
	script := fmt.Sprintf(`mount -t overlay overlay -o userxattr,lowerdir=%s,upperdir=%s,workdir=%s %s && cd %s && rm gone && rm -r d && mkdir d && echo n > d/new && echo a > added && ln added added2`,
		base.Dir, upper, wd, mnt, mnt)
	if out, err := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("making an upper dir: %v\n%s", err, out)
	}
	var buf bytes.Buffer
	if err := WriteLayerTar(&buf, upper); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteLayerTar(&again, upper); err != nil || !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("WriteLayerTar is not deterministic (%v)", err)
	}
	names := tarNames(t, buf.Bytes())
	sort.Strings(names)
	want := ".wh.gone added added2 d/ d/.wh..wh..opq d/new"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("tar entries %q, want %q", got, want)
	}
	top, err := s.AddLayer(&buf)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(s.Root()), 0o755)
	if got := mergedView(t, []string{top.Dir, base.Dir}, true); got != "added=a added2=a d/ d/new=n keep=k" {
		t.Errorf("merged view %q", got)
	}
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, hdr.Name)
	}
	return names
}
