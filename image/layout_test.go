package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/nook-sandbox/nook/image/imagetest"
	"github.com/nook-sandbox/nook/image/layout"
)

// TestReferenceRulesMatchGoContainerregistry holds layout.ParseReference,
// which `nook run` finds tags with, equal to go-containerregistry's
// name.ParseReference, which wrote them.
func TestReferenceRulesMatchGoContainerregistry(t *testing.T) {
	h64, h96, h128 := strings.Repeat("ab", 32), strings.Repeat("cd", 48), strings.Repeat("ef", 64)
	refs := []string{
		"alpine", "alpine:3.19", "library/alpine", "docker.io/alpine", "docker.io/library/alpine:edge",
		"index.docker.io/alpine", "index.docker.io/library/alpine:1", "debian/firefox:esr",
		"localhost/app", "localhost:5000/app", "localhost:5000/app:1", "localhost:5000", "localhost",
		"127.0.0.1:5000/a/b/c:d", "example.org/x", "example.org:443/x/y:z", "[::1]:5000/app:1",
		"my-registry.local/a_b/c-d.e:T_A-G.9", "local/hello:1", "bench/one:1", "a/b/c/d/e",
		"Alpine", "alpine:", ":tag", "alpine::1", "a b", "a/", "/a", "a//b", "", "@", "a@", "a@sha256:",
		"alpine@sha256:" + h64, "alpine:3@sha256:" + h64, "example.org/x@sha256:" + h64,
		"alpine@sha384:" + h96, "alpine@sha512:" + h128, "alpine@sha256:" + h64[:63], "alpine@sha256:" + strings.ToUpper(h64),
		"alpine@md5:" + h64[:32], "a@b@sha256:" + h64, "sha256:" + h64, h64, h64[:12],
		"http://example.org/x", "https://example.org/x", "example.org/x:" + strings.Repeat("t", 128),
		"example.org/x:" + strings.Repeat("t", 129), strings.Repeat("r", 255), strings.Repeat("r", 256),
		"exa mple.org/x", "example.org:port/x", "ex%41.org/x", "example.org/x:ta%g", "x:1:2", "x:1/2",
		"a.b/c:d@sha256:" + h64, "ünïcode", "ÄB:1",
	}
	for _, ref := range refs {
		want, wantErr := name.ParseReference(ref)
		got, gotErr := layout.ParseReference(ref)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%q: layout says %+v, %v; go-containerregistry %v, %v", ref, got, gotErr, want, wantErr)
			continue
		}
		if gotErr != nil {
			if !errors.Is(gotErr, layout.ErrBadReference) {
				t.Errorf("%q: error %v does not wrap ErrBadReference", ref, gotErr)
			}
			continue
		}
		wantDigest := ""
		if d, ok := want.(name.Digest); ok {
			wantDigest = d.DigestStr()
		}
		if got.Name != want.Name() || got.Digest != wantDigest {
			t.Errorf("%q: layout says %+v; go-containerregistry %q, digest %q", ref, got, want.Name(), wantDigest)
		}
	}
}

// TestLayoutReadsWhatStoreWrites: the small reader finds what the store
// resolves, by tag, digest and digest prefix, and reports a layer whose
// directory is gone instead of unpacking it.
func TestLayoutReadsWhatStoreWrites(t *testing.T) {
	img, _ := testImage(t, 7)
	dir := t.TempDir()
	archive := filepath.Join(dir, "a.tar")
	imagetest.DockerArchive(t, archive, "example.org/app:1", img)
	s := openStore(t)
	if _, err := s.Import(archive, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	want, err := s.Resolve("example.org/app:1")
	if err != nil {
		t.Fatal(err)
	}
	l := layout.Layout{Root: s.Root()}
	for _, ref := range []string{"example.org/app:1", "example.org/app@" + want.Digest, want.Digest, shortDigest(want.Digest)} {
		got, err := l.Read(ref)
		if err != nil {
			t.Fatalf("Read(%q): %v", ref, err)
		}
		compareLayout(t, ref, got, want)
	}
	for ref, is := range map[string]error{"example.org/app:2": ErrNotFound, "Bad:Ref": ErrBadReference, "nosuch": ErrNotFound} {
		if _, err := l.Read(ref); !errors.Is(err, is) {
			t.Errorf("Read(%q) = %v, want %v", ref, err, is)
		}
	}
	if err := removeTree(want.Layers[1].Dir); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read("example.org/app:1")
	if !errors.Is(err, layout.ErrNotUnpacked) || got == nil || !strings.Contains(err.Error(), "layer 2/3") {
		t.Fatalf("Read with layer 2 gone = %v, %v; want ErrNotUnpacked naming layer 2/3", got, err)
	}
	if _, err := os.Stat(want.Layers[1].Dir); err == nil {
		t.Fatal("Read unpacked a layer")
	}
	if _, err := s.Resolve("example.org/app:1"); err != nil {
		t.Fatal(err)
	}
	if got, err = l.Read("example.org/app:1"); err != nil {
		t.Fatal(err)
	}
	compareLayout(t, "after Resolve", got, want)
}

func compareLayout(t *testing.T, what string, got *layout.Image, want *Image) {
	t.Helper()
	if got.Digest != want.Digest || fmt.Sprint(got.Env) != fmt.Sprint(want.Config.Env) || got.WorkingDir != want.Config.WorkingDir || fmt.Sprint(got.Layers) != fmt.Sprint(want.Layers) {
		t.Errorf("%s: layout read %+v, store resolved %+v", what, got, want)
	}
}

// layoutAgrees checks that layout.Read finds ref as s.Resolve did.
func layoutAgrees(t *testing.T, s *Store, ref string, want *Image) {
	t.Helper()
	got, err := layout.Layout{Root: s.Root()}.Read(ref)
	if err != nil {
		t.Fatalf("layout.Read(%q): %v", ref, err)
	}
	if got.Ref != want.Ref {
		t.Errorf("layout.Read(%q).Ref = %q, Resolve's %q", ref, got.Ref, want.Ref)
	}
	compareLayout(t, ref, got, want)
}
