package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/image/imagetest"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(s.Root()) }) // layers may hold read-only dirs
	return s
}

// TestHostileLayers unpacks hand-made hostile tars. Nothing may appear
// outside the layer directory, the host file must never be reachable from
// the layer, and each case is refused or neutralised as listed.
func TestHostileLayers(t *testing.T) {
	out := t.TempDir() // "the host": must end up exactly as it started
	secret := filepath.Join(out, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	rel := strings.TrimPrefix(out, "/") // where neutralised writes land inside the layer
	cases := []struct {
		name    string
		files   []imagetest.File
		wantErr string // substring of the error; "" for neutralised
		inLayer string // a path that must exist in the layer (neutralised case)
		absent  string // a path that must not exist in the layer
	}{
		{name: "dotdot", files: []imagetest.File{imagetest.Reg("../../../../../../../.."+out+"/evil", "x")}, inLayer: rel + "/evil"},
		{name: "absolute path", files: []imagetest.File{imagetest.Reg(out+"/evil", "x")}, inLayer: rel + "/evil"},
		{name: "symlink to host dir then entry through it", files: []imagetest.File{
			imagetest.Dir(rel + "/"), imagetest.Symlink("link", out), imagetest.Reg("link/evil", "x")}, inLayer: rel + "/evil"},
		{name: "dangling symlink to host dir then entry through it", files: []imagetest.File{
			imagetest.Symlink("link", out), imagetest.Reg("link/evil", "x")}, wantErr: "refusing to write through it"},
		{name: "relative symlink climbing out then entry through it", files: []imagetest.File{
			imagetest.Symlink("up", "../../../../../../../../.."), imagetest.Reg("up"+out+"/evil", "x")}, inLayer: rel + "/evil"},
		{name: "symlinked parent deeper down", files: []imagetest.File{
			imagetest.Dir(rel + "/"), imagetest.Dir("a/"), imagetest.Symlink("a/b", "../../../../../../../.."+out), imagetest.Reg("a/b/c/evil", "x")}, inLayer: rel + "/c/evil"},
		{name: "directory replaced by symlink then entry through it", files: []imagetest.File{
			imagetest.Dir(rel + "/"), imagetest.Dir("d/"), imagetest.Reg("d/x", "1"), imagetest.Symlink("d", out), imagetest.Reg("d/evil", "x")}, inLayer: rel + "/evil", absent: "d/x"},
		{name: "symlink to host file then file of the same name", files: []imagetest.File{
			imagetest.Symlink("f", secret), imagetest.Reg("f", "overwritten")}, inLayer: "f"},
		{name: "hardlink to absolute host file", files: []imagetest.File{imagetest.Hardlink("stolen", secret)},
			wantErr: "not in the layer"},
		{name: "hardlink climbing out", files: []imagetest.File{imagetest.Hardlink("stolen", "../../../../../../../.."+secret)},
			wantErr: "not in the layer"},
		{name: "hardlink through symlink to host dir", files: []imagetest.File{
			imagetest.Symlink("l", out), imagetest.Hardlink("stolen", "l/secret")}, wantErr: "hard link"},
		{name: "hardlink to symlink to host file", files: []imagetest.File{
			imagetest.Symlink("l", secret), imagetest.Hardlink("stolen", "l")}, inLayer: "stolen"},
		{name: "block device skipped", files: []imagetest.File{{Name: "dev/sda", Type: tar.TypeBlock, Major: 8}}, absent: "dev/sda"},
		{name: "char device skipped", files: []imagetest.File{{Name: "dev/mem", Type: tar.TypeChar, Major: 1, Minor: 1}}, absent: "dev/mem"},
		{name: "whiteout of dotdot", files: []imagetest.File{imagetest.Reg("a/.wh...", "")}, wantErr: "bad whiteout"},
		{name: "forged overlay xattrs dropped", files: []imagetest.File{
			{Name: "o/", Type: tar.TypeDir, Xattrs: map[string]string{"user.overlay.opaque": "y", "trusted.overlay.opaque": "y", "user.overlay.redirect": "/etc"}}},
			inLayer: "o"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t)
			l, err := s.AddLayer(bytes.NewReader(imagetest.Layer(t, c.files...)))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("AddLayer error = %v, want one containing %q", err, c.wantErr)
				}
			} else if err != nil {
				t.Fatalf("AddLayer: %v", err)
			}
			assertHostUntouched(t, out)
			if tmp, _ := os.ReadDir(s.tmpDir()); len(tmp) != 0 {
				t.Errorf("tmp/ not cleaned: %v", tmp)
			}
			if err != nil {
				if ents, _ := os.ReadDir(filepath.Join(s.Root(), "layers", "sha256")); len(ents) != 0 {
					t.Errorf("a refused layer left %v", ents)
				}
				return
			}
			assertNoHostLink(t, l.Dir, secret)
			if c.inLayer != "" {
				if _, err := os.Lstat(filepath.Join(l.Dir, c.inLayer)); err != nil {
					t.Errorf("neutralised entry not inside the layer: %v", err)
				}
			}
			if c.absent != "" {
				if _, err := os.Lstat(filepath.Join(l.Dir, c.absent)); err == nil {
					t.Errorf("%s exists in the layer", c.absent)
				}
			}
			if c.name == "forged overlay xattrs dropped" {
				for _, x := range []string{"user.overlay.opaque", "trusted.overlay.opaque", "user.overlay.redirect"} {
					if _, err := unix.Lgetxattr(filepath.Join(l.Dir, "o"), x, make([]byte, 64)); err == nil {
						t.Errorf("%s was restored from the tar", x)
					}
				}
			}
		})
	}
}

// assertHostUntouched checks dir holds only "secret" with its content.
func assertHostUntouched(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "secret" {
		t.Errorf("host dir changed: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secret")); string(b) != "host secret" {
		t.Errorf("host file changed: %q", b)
	}
}

// assertNoHostLink checks no regular file in the layer is the host file
// (same inode) or has its content.
func assertNoHostLink(t *testing.T, layer, host string) {
	t.Helper()
	var hs unix.Stat_t
	if err := unix.Stat(host, &hs); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(layer, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		var st unix.Stat_t
		unix.Lstat(p, &st)
		if st.Ino == hs.Ino && st.Dev == hs.Dev {
			t.Errorf("%s is a hard link to the host file", p)
		}
		if b, _ := os.ReadFile(p); string(b) == "host secret" {
			t.Errorf("%s has the host file's content", p)
		}
		return nil
	})
}

// TestUnpackMetadata checks modes (setuid kept: harmless under
// no_new_privs), times, symlinks, hard links, fifos, whiteouts and opaque
// markers, and that read-only directories still get their children.
func TestUnpackMetadata(t *testing.T) {
	s := openStore(t)
	firstTar := imagetest.Layer(t,
		imagetest.File{Name: "ro/", Type: tar.TypeDir, Mode: 0o555},
		imagetest.Reg("ro/a", "a"),
		imagetest.File{Name: "bin/su", Body: "su", Mode: 0o4755},
		imagetest.Symlink("bin/sh", "dash"),
		imagetest.Hardlink("bin/su2", "bin/su"),
		imagetest.File{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o600},
		imagetest.Whiteout("etc/gone"),
		imagetest.Dir("opq/"), imagetest.Opaque("opq"), imagetest.Reg("opq/kept", "k"),
		imagetest.File{Name: "x/.wh..wh.plnk", Body: ""},
		imagetest.File{Name: "u", Body: "u", Xattrs: map[string]string{"user.test": "v"}},
	)
	l, err := s.AddLayer(bytes.NewReader(firstTar))
	if err != nil {
		t.Fatal(err)
	}
	first := l
	check := func(p string, mode os.FileMode) os.FileInfo {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(l.Dir, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
		return fi
	}
	check(".", os.ModeDir|0o755) // no "./" entry: "/" must stay traversable
	check("ro", os.ModeDir|0o555)
	check("ro/a", 0o644)
	if fi := check("bin/su", os.ModeSetuid|0o755); fi != nil && fi.ModTime().Unix() != 1700000000 {
		t.Errorf("bin/su mtime %v", fi.ModTime())
	}
	check("bin/sh", os.ModeSymlink|0o777)
	check("run/fifo", os.ModeNamedPipe|0o600)
	a, _ := os.Stat(filepath.Join(l.Dir, "bin/su"))
	b, _ := os.Stat(filepath.Join(l.Dir, "bin/su2"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Error("bin/su2 is not a hard link of bin/su")
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(l.Dir, "etc/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/gone is not a 0/0 char device whiteout: %v %o %d", err, st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(l.Dir, "etc/.wh.gone")); err == nil {
		t.Error(".wh.gone was written as a file")
	}
	if _, err := os.Lstat(filepath.Join(l.Dir, "x/.wh..wh.plnk")); err == nil {
		t.Error(".wh..wh.plnk was written")
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(l.Dir, "opq"), "user.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opq: user.overlay.opaque = %q, %v", buf[:n], err)
	}
	if privileged() {
		if n, err := unix.Lgetxattr(filepath.Join(l.Dir, "opq"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
			t.Errorf("opq: trusted.overlay.opaque = %q, %v", buf[:n], err)
		}
	}
	if n, err := unix.Lgetxattr(filepath.Join(l.Dir, "u"), "user.test", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("u: user.test = %q, %v", buf[:n], err)
	}
	check("opq/kept", 0o644)
	// Later entries win: a directory given twice gets the second mode; a
	// hard link replacing a file, after enough directories to evict the
	// unpacker's directory cache, still lands where it should.
	files := []imagetest.File{{Name: "dup/", Type: tar.TypeDir, Mode: 0o700}, {Name: "dup/", Type: tar.TypeDir, Mode: 0o750}}
	for i := 0; i < 70; i++ {
		files = append(files, imagetest.Reg(fmt.Sprintf("d%d/f", i), fmt.Sprint(i)))
	}
	files = append(files, imagetest.Reg("x/l", "old"), imagetest.Hardlink("x/l", "d0/f"), imagetest.Reg("d69/f", "new"))
	l3, err := s.AddLayer(bytes.NewReader(imagetest.Layer(t, files...)))
	if err != nil {
		t.Fatal(err)
	}
	l = l3
	check("dup", os.ModeDir|0o750)
	if b, _ := os.ReadFile(filepath.Join(l.Dir, "x/l")); string(b) != "0" {
		t.Errorf("x/l = %q, want the content of d0/f", b)
	}
	if b, _ := os.ReadFile(filepath.Join(l.Dir, "d69/f")); string(b) != "new" {
		t.Errorf("d69/f = %q", b)
	}
	// The same content again is deduplicated: same directory, no unpacking.
	before := layersUnpacked.Load()
	again, err := s.AddLayer(bytes.NewReader(firstTar))
	if err != nil || again != first || layersUnpacked.Load() != before {
		t.Errorf("AddLayer of the same tar = %+v, %v (unpacked %d more)", again, err, layersUnpacked.Load()-before)
	}
	if err := removeTree(first.Dir); err != nil {
		t.Errorf("removeTree of a layer with read-only dirs: %v", err)
	}
}

func TestCorruptLayer(t *testing.T) {
	s := openStore(t)
	good := imagetest.Layer(t, imagetest.Reg("a", strings.Repeat("x", 5000)))
	for name, b := range map[string][]byte{
		"truncated": good[:700],
		"garbage":   bytes.Repeat([]byte{0xde, 0xad}, 600),
	} {
		_, err := s.AddLayer(bytes.NewReader(b))
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: AddLayer error %v, want one line", name, err)
		}
	}
	if _, err := s.AddLayer(bytes.NewReader(good)); err != nil {
		t.Errorf("good layer after bad ones: %v", err)
	}
}

// TestStaleTmpRemoved: what a killed AddLayer or import left in tmp/ (a
// directory whose lock nobody holds) goes with the next one of its kind;
// a directory whose lock is held stays.
func TestStaleTmpRemoved(t *testing.T) {
	s := openStore(t)
	dead := filepath.Join(s.tmpDir(), "add-1-1")
	os.MkdirAll(filepath.Join(dead, "layer", "ro"), 0o755)
	os.Chmod(filepath.Join(dead, "layer", "ro"), 0o555)
	live, release, err := s.privateTmp("add-")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("a dead add- directory survived privateTmp")
	}
	if _, err := s.AddLayer(bytes.NewReader(imagetest.Layer(t, imagetest.Reg("a", "a")))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live add- directory was removed: %v", err)
	}
	release()
	if ents, _ := os.ReadDir(s.tmpDir()); len(ents) != 0 {
		t.Errorf("tmp/ after release: %v", ents)
	}
}
