// Package bootstraptest gives tests a real Debian bookworm image without
// running debootstrap more than once per machine: the first test that
// needs it, as root, bootstraps it and keeps its layer tar in CacheDir;
// every later test (as any user) adds that tar to its own store.
package bootstraptest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/image/bootstrap"
)

// CacheDir holds bookworm.tar (the image's one layer) and debs/ (the
// packages debootstrap downloaded). $NOOK_BOOTSTRAP_CACHE overrides it.
// It is not under /var/cache/nook: nook run as root makes that 0700 (its
// seccomp cache), and the unprivileged test run must read the layer.
func CacheDir() string {
	if d := os.Getenv("NOOK_BOOTSTRAP_CACHE"); filepath.IsAbs(d) {
		return d
	}
	return "/var/cache/nook-test/bootstrap"
}

// Ref is the tag Bookworm gives the image.
const Ref = "debian:bookworm"

// Bookworm makes sure st holds debian:bookworm and returns its reference.
// It bootstraps (as root, once per CacheDir) or reuses the cached layer.
func Bookworm(t testing.TB, st *image.Store) string {
	t.Helper()
	dir := CacheDir()
	tarPath := filepath.Join(dir, "bookworm.tar")
	if _, err := os.Stat(tarPath); err != nil {
		if os.Geteuid() != 0 {
			t.Fatalf("no cached Debian bookworm layer at %s, and debootstrap needs root: run these tests as root once (scripts/test does, before the unprivileged run)", tarPath)
		}
		create(t, tarPath)
	}
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := st.AddLayer(f)
	if err != nil {
		t.Fatalf("adding the cached bookworm layer: %v", err)
	}
	if _, err := st.Commit(Ref, []image.Layer{l}, bootstrap.Config()); err != nil {
		t.Fatal(err)
	}
	return Ref
}

// create bootstraps bookworm into a scratch store and keeps its layer tar
// at tarPath, under a lock so that test binaries running at once
// bootstrap once.
func create(t testing.TB, tarPath string) {
	t.Helper()
	dir := filepath.Dir(tarPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(dir), 0o755) // whatever the umask: nooktest reads it
	os.Chmod(dir, 0o755)
	lk, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	if err := unix.Flock(int(lk.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tarPath); err == nil {
		return // another test binary made it while we waited
	}
	storeDir, err := os.MkdirTemp(dir, "store-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(storeDir)
	st, err := image.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	img, err := bootstrap.Bootstrap(context.Background(), st, Ref, "bookworm", bootstrap.Options{CacheDir: filepath.Join(dir, "debs"), Log: &log})
	if err != nil {
		t.Fatalf("bootstrapping bookworm: %v", err)
	}
	hex := strings.TrimPrefix(img.Layers[0].DiffID, "sha256:")
	blob := filepath.Join(storeDir, "oci", "blobs", "sha256", hex)
	if err := copyFile(blob, tarPath); err != nil {
		t.Fatalf("caching the bookworm layer: %v", err)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return errors.Join(err)
	}
	return nil
}
