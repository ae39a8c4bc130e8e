package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/nook-sandbox/nook/image/imagetest"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// imageCLI runs the nook binary on a store of its own.
type imageCLI struct {
	t     testing.TB
	nook  string
	dir   string
	store string
}

func newImageCLI(t *testing.T) *imageCLI {
	dir := sandboxtest.ScratchDir(t)
	return &imageCLI{t: t, nook: sandboxtest.Nook(t), dir: dir, store: filepath.Join(dir, "store")}
}

func (c *imageCLI) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(c.nook, args...)
	cmd.Env = append(os.Environ(), "NOOK_STORE="+c.store)
	return cmd
}

// run returns nook's exit code, stdout and stderr.
func (c *imageCLI) run(args ...string) (int, string, string) {
	c.t.Helper()
	cmd := c.cmd(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// ok runs nook and fails the test unless it exits 0.
func (c *imageCLI) ok(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != 0 {
		c.t.Fatalf("nook %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// oneLineError runs nook, expects a failure with exactly one stderr line
// containing want.
func (c *imageCLI) oneLineError(want string, args ...string) {
	c.t.Helper()
	code, _, errOut := c.run(args...)
	if code == 0 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		c.t.Errorf("nook %s: exit %d, stderr %q; want one line with %q", strings.Join(args, " "), code, errOut, want)
	}
}

func TestImageCLI(t *testing.T) {
	c := newImageCLI(t)
	img := imagetest.Image(t, v1.Config{Cmd: []string{"/bin/app"}, Env: []string{"A=1"}},
		imagetest.RandomLayer(t, 1, "base", 50), imagetest.RandomLayer(t, 2, "app", 5))
	archive := filepath.Join(c.dir, "app.tar")
	imagetest.DockerArchive(t, archive, "debian/app:1", img)

	out := c.ok("image", "import", archive)
	if !strings.HasPrefix(out, "imported debian/app:1 (") {
		t.Errorf("import printed %q", out)
	}
	c.ok("image", "tag", "debian/app:1", "localhost:5000/app:copy")
	out = c.ok("image", "ls")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "debian/app:1 ") || !strings.HasPrefix(lines[2], "localhost:5000/app:copy ") {
		t.Errorf("ls printed\n%s", out)
	}
	id := strings.TrimSpace(strings.Split(c.ok("image", "ls", "-q"), "\n")[0])
	if out := c.ok("image", "inspect", id); !strings.Contains(out, `"/bin/app"`) || !strings.Contains(out, `"unpacked": true`) {
		t.Errorf("inspect printed\n%s", out)
	}
	for _, format := range []string{"docker", "oci"} {
		file := filepath.Join(c.dir, "out-"+format+".tar")
		c.ok("image", "export", "--format", format, "localhost:5000/app:copy", file)
		c2 := &imageCLI{t: t, nook: c.nook, dir: c.dir, store: filepath.Join(c.dir, "store-"+format)}
		if out := c2.ok("image", "import", file); !strings.Contains(out, "imported localhost:5000/app:copy") {
			t.Errorf("re-import (%s) printed %q", format, out)
		}
		c2.ok("image", "verify")
	}
	out = c.ok("image", "du")
	if !strings.Contains(out, "debian/app:1, localhost:5000/app:copy") || !strings.Contains(out, "on disk; the images add up to") {
		t.Errorf("du printed\n%s", out)
	}
	if out := c.ok("image", "verify"); !strings.Contains(out, ": ok") {
		t.Errorf("verify printed %q", out)
	}
	if out := c.ok("image", "rm", "debian/app:1", "localhost:5000/app:copy"); out != "removed debian/app:1\nremoved localhost:5000/app:copy\n" {
		t.Errorf("rm printed %q", out)
	}
	if out := c.ok("image", "prune"); !strings.HasPrefix(out, "removed 4 blobs and 2 layers, freed ") {
		t.Errorf("prune printed %q", out)
	}
	// One clear line for each kind of bad input.
	c.oneLineError("bad image reference", "image", "inspect", "Bad:Ref:x")
	c.oneLineError("image not found: nosuch:1", "image", "inspect", "nosuch:1")
	c.oneLineError("image not found", "image", "export", "nosuch:1", filepath.Join(c.dir, "x.tar"))
	os.WriteFile(filepath.Join(c.dir, "junk.tar"), []byte(strings.Repeat("junk", 1000)), 0o644)
	c.oneLineError("not an image archive", "image", "import", filepath.Join(c.dir, "junk.tar"))
	c.oneLineError("no such file or directory", "image", "import", filepath.Join(c.dir, "none.tar"))
	c.oneLineError(`export format "zip"`, "image", "export", "--format", "zip", "a:1", "x")
	// verify exits 1 and names a damaged blob.
	c.ok("image", "import", archive)
	blobs, _ := filepath.Glob(filepath.Join(c.store, "oci", "blobs", "sha256", "*"))
	os.WriteFile(blobs[0], []byte("damaged"), 0o644)
	if code, out, _ := c.run("image", "verify"); code != 1 || !strings.Contains(out, filepath.Base(blobs[0])+": content is sha256:") {
		t.Errorf("verify of a damaged store: exit %d\n%s", code, out)
	}
}

// TestImagePullCLI pulls from go-containerregistry's registry in this test
// process over loopback; stderr is not a terminal, so progress is plain
// lines.
func TestImagePullCLI(t *testing.T) {
	c := newImageCLI(t)
	host := imagetest.Registry(t)
	img := imagetest.Image(t, v1.Config{Cmd: []string{"/x"}}, imagetest.RandomLayer(t, 3, "a", 20), imagetest.RandomLayer(t, 4, "b", 20))
	imagetest.Push(t, host+"/team/app:2", img)
	code, out, errOut := c.run("image", "pull", host+"/team/app:2")
	if code != 0 || out != fmt.Sprintf("pulled %s/team/app:2 (%s)\n", host, shortOf(t, img)) {
		t.Fatalf("pull: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, want := range []string{"layer 1/2 ", "layer 2/2 ", ": fetching (", ": unpacking", ": done"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "\x1b[") {
		t.Errorf("terminal escapes in plain progress:\n%q", errOut)
	}
	_, _, errOut = c.run("image", "pull", host+"/team/app:2")
	if strings.Count(errOut, ": exists") != 2 {
		t.Errorf("second pull refetched:\n%s", errOut)
	}
	c.oneLineError("pulling "+host+"/team/nosuch:1", "image", "pull", host+"/team/nosuch:1")
}

func shortOf(t *testing.T, img v1.Image) string {
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.Hex[:12]
}

// bigArchive writes a docker save archive with one layer of about size
// bytes of mixed files.
func bigArchive(t *testing.T, dir string, size int64, tag string) string {
	t.Helper()
	layer := filepath.Join(dir, "big-layer.tar")
	f, err := os.Create(layer)
	if err != nil {
		t.Fatal(err)
	}
	if err := imagetest.WriteMixedLayer(f, 1, size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	archive := filepath.Join(dir, "big.tar")
	imagetest.ClassicDockerArchiveFiles(t, archive, []string{tag}, layer)
	os.Remove(layer)
	return archive
}

// TestImageImportKilled SIGKILLs a real `nook image import` at several
// points (while unpacking the archive, while unpacking the layer): the
// store stays consistent (verify passes, the image is absent or complete)
// and the next import succeeds.
func TestImageImportKilled(t *testing.T) {
	c := newImageCLI(t)
	archive := bigArchive(t, c.dir, 150<<20, "big:1")
	for _, stage := range []string{"import-", "layer-"} {
		t.Run(stage, func(t *testing.T) {
			c.store = filepath.Join(c.dir, "store-"+stage)
			cmd := c.cmd("image", "import", archive)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killed := false
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) && !killed {
				ents, _ := os.ReadDir(filepath.Join(c.store, "tmp"))
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), stage) {
						if sub, _ := os.ReadDir(filepath.Join(c.store, "tmp", e.Name())); len(sub) > 0 || !e.IsDir() {
							cmd.Process.Signal(syscall.SIGKILL)
							killed = true
						}
					}
				}
				time.Sleep(time.Millisecond)
			}
			err := cmd.Wait()
			if !killed {
				t.Fatalf("never saw tmp/%s* (import finished: %v)", stage, err)
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("import was not killed mid-way: %v", cmd.ProcessState)
			}
			c.ok("image", "verify")
			if out := c.ok("image", "ls", "-q"); out != "" {
				t.Errorf("a killed import left an image: %q", out)
			}
			if out := c.ok("image", "import", archive); !strings.HasPrefix(out, "imported big:1") {
				t.Errorf("import after kill printed %q", out)
			}
			c.ok("image", "verify")
			if ents, _ := os.ReadDir(filepath.Join(c.store, "tmp")); len(ents) != 0 {
				t.Errorf("leftovers in tmp/ after the next import: %v", ents)
			}
		})
	}
}

// TestImageImportDiskFull imports onto a 16 MiB tmpfs store (in a mount
// namespace of its own; as a user also a user namespace): one clear line,
// the store stays consistent.
func TestImageImportDiskFull(t *testing.T) {
	c := newImageCLI(t)
	archive := bigArchive(t, c.dir, 40<<20, "big:1")
	os.Mkdir(c.store, 0o755)
	args := []string{"--mount"}
	if os.Geteuid() != 0 {
		args = append(args, "--user", "--map-root-user")
	}
	script := fmt.Sprintf(`mount -t tmpfs -o size=16m tmpfs %s || exit 99; %s image import %s; echo "exit=$?"; %s image verify >&2 || echo verify-failed`,
		c.store, c.nook, archive, c.nook)
	cmd := exec.Command("unshare", append(args, "sh", "-c", script)...)
	cmd.Env = append(os.Environ(), "NOOK_STORE="+c.store)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if stdout.String() != "exit=125\n" || len(lines) != 2 || !strings.Contains(lines[0], "no space left on device") || !strings.HasPrefix(lines[0], "nook: importing ") || !strings.Contains(lines[1], ": ok") {
		t.Errorf("stdout %q, stderr:\n%s", stdout.String(), stderr.String())
	}
}

// BenchmarkImageDu imports 5 images that share a 64 MiB base layer, each
// with a 4 MiB layer of its own, and reports what `nook image du` shows:
// the store holds the base once. Run with -benchtime=1x -v to see the table.
func BenchmarkImageDu(b *testing.B) {
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		c := &imageCLI{nook: sandboxtest.Nook(b), dir: dir, store: filepath.Join(dir, "store")}
		base := filepath.Join(dir, "base.tar")
		f, _ := os.Create(base)
		if err := imagetest.WriteMixedLayer(f, 7, 64<<20); err != nil {
			b.Fatal(err)
		}
		f.Close()
		for n := 0; n < 5; n++ {
			app := filepath.Join(dir, "app.tar")
			f, _ := os.Create(app)
			imagetest.WriteMixedLayer(f, int64(100+n), 4<<20)
			f.Close()
			archive := filepath.Join(dir, fmt.Sprintf("app%d.tar", n))
			imagetest.ClassicDockerArchiveFiles(b, archive, []string{fmt.Sprintf("local/app%d:1", n)}, base, app)
			if out, err := c.cmd("image", "import", archive).CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
			os.Remove(archive)
		}
		out, err := c.cmd("image", "du").CombinedOutput()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		b.Logf("nook image du:\n%s", out)
	}
}

// slowBlobs serves blobs at about 64 MiB/s, so a test can kill a pull in
// the middle of a layer.
type slowBlobs struct{ registry.BlobHandler }

func (s slowBlobs) Get(ctx context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	rc, err := s.BlobHandler.Get(ctx, repo, h)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&slowReader{r: rc}, rc}, nil
}

func (s slowBlobs) Stat(ctx context.Context, repo string, h v1.Hash) (int64, error) {
	return s.BlobHandler.(registry.BlobStatHandler).Stat(ctx, repo, h)
}

func (s slowBlobs) Put(ctx context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	return s.BlobHandler.(registry.BlobPutHandler).Put(ctx, repo, h, rc)
}

type slowReader struct{ r io.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	time.Sleep(time.Millisecond)
	return s.r.Read(p)
}

// TestImagePullKilled SIGKILLs a real `nook image pull` while it writes a
// layer blob: the store stays consistent and the next pull succeeds.
func TestImagePullKilled(t *testing.T) {
	c := newImageCLI(t)
	host := imagetest.Registry(t, registry.WithBlobHandler(slowBlobs{registry.NewInMemoryBlobHandler()}))
	var layer bytes.Buffer
	if err := imagetest.WriteMixedLayer(&layer, 9, 48<<20); err != nil {
		t.Fatal(err)
	}
	img := imagetest.Image(t, v1.Config{Cmd: []string{"/x"}}, layer.Bytes())
	imagetest.Push(t, host+"/big:1", img)
	cmd := c.cmd("image", "pull", host+"/big:1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !killed; time.Sleep(time.Millisecond) {
		ents, _ := os.ReadDir(filepath.Join(c.store, "tmp"))
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "blob-") && fi.Size() > 1<<20 {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !killed || !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("pull was not killed mid-way: %v", cmd.ProcessState)
	}
	c.ok("image", "verify")
	if out := c.ok("image", "pull", host+"/big:1"); !strings.HasPrefix(out, "pulled "+host+"/big:1") {
		t.Errorf("pull after kill printed %q", out)
	}
	c.ok("image", "verify")
	if ents, _ := os.ReadDir(filepath.Join(c.store, "tmp")); len(ents) != 0 {
		t.Errorf("leftovers in tmp/ after the next pull: %v", ents)
	}
}
