package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/nook-sandbox/nook/image/imagetest"
)

var testConfig = v1.Config{Env: []string{"PATH=/usr/bin", "LANG=C.UTF-8"}, Cmd: []string{"/bin/app"}, WorkingDir: "/w", User: "1000"}

// testImage is two random layers on an overlay-rules base.
func testImage(t *testing.T, seed int64) (v1.Image, [][]byte) {
	layers := append(overlayLayers(t)[:2], imagetest.RandomLayer(t, seed, fmt.Sprintf("app%d", seed), 20))
	return imagetest.Image(t, testConfig, layers...), layers
}

// checkImage resolves ref and compares it with img: config, diff ids and
// the merged content of its layers.
func checkImage(t *testing.T, s *Store, ref string, img v1.Image) *Image {
	t.Helper()
	got, err := s.Resolve(ref)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", ref, err)
	}
	cf, _ := img.ConfigFile()
	if fmt.Sprint(got.Config.Env, got.Config.Cmd, got.Config.WorkingDir, got.Config.User) != fmt.Sprint(cf.Config.Env, cf.Config.Cmd, cf.Config.WorkingDir, cf.Config.User) {
		t.Errorf("%s config = %+v, want %+v", ref, got.Config, cf.Config)
	}
	if len(got.Layers) != len(cf.RootFS.DiffIDs) {
		t.Fatalf("%s has %d layers, want %d", ref, len(got.Layers), len(cf.RootFS.DiffIDs))
	}
	for i, l := range got.Layers {
		if l.DiffID != cf.RootFS.DiffIDs[i].String() || l.Dir != s.layerDir(cf.RootFS.DiffIDs[i]) {
			t.Errorf("%s layer %d = %+v, want diff id %s", ref, i, l, cf.RootFS.DiffIDs[i])
		}
		if _, err := os.Stat(l.Dir); err != nil {
			t.Errorf("layer %d not unpacked: %v", i, err)
		}
	}
	if problems, err := s.Verify(); err != nil || len(problems) != 0 {
		t.Errorf("Verify: %v %q", err, problems)
	}
	layoutAgrees(t, s, ref, got)
	return got
}

func TestImportExportRoundTrip(t *testing.T) {
	img, layers := testImage(t, 1)
	dir := t.TempDir()
	cf, _ := img.RawConfigFile()
	imagetest.DockerArchive(t, filepath.Join(dir, "ggcr-docker.tar"), "example.org/app:1", img)
	imagetest.ClassicDockerArchive(t, filepath.Join(dir, "classic.tar"), []string{"app:classic"}, cf, layers...)
	os.WriteFile(filepath.Join(dir, "classic.tar.gz"), imagetest.Gzip(t, mustRead(t, filepath.Join(dir, "classic.tar"))), 0o644)
	imagetest.OCIArchive(t, filepath.Join(dir, "oci.tar"), "example.org/app:oci", img, false)
	imagetest.OCIArchive(t, filepath.Join(dir, "oci.tar.gz"), "example.org/app:ocigz", img, true)
	imagetest.OCILayout(t, filepath.Join(dir, "layout"), "", img) // unnamed: needs --tag
	// Docker before 25 saved a layer shared by two images once, the other
	// DIR/layer.tar being a symlink to it.
	links := []imagetest.File{imagetest.Reg("store/l0", string(layers[0])), imagetest.Reg("store/l1", string(layers[1])), imagetest.Reg("store/l2", string(layers[2]))}
	for i := range layers {
		links = append(links, imagetest.Symlink(fmt.Sprintf("%d/layer.tar", i), fmt.Sprintf("../store/l%d", i)))
	}
	links = append(links, imagetest.Reg("c.json", string(cf)),
		imagetest.Reg("manifest.json", `[{"Config":"c.json","RepoTags":["app:links"],"Layers":["0/layer.tar","1/layer.tar","2/layer.tar"]}]`))
	os.WriteFile(filepath.Join(dir, "links.tar"), imagetest.Layer(t, links...), 0o644)
	cases := []struct{ file, tag, ref string }{
		{"ggcr-docker.tar", "", "example.org/app:1"},
		{"classic.tar", "", "app:classic"},
		{"classic.tar.gz", "mine:gz", "mine:gz"},
		{"oci.tar", "", "example.org/app:oci"},
		{"oci.tar.gz", "", "example.org/app:ocigz"},
		{"layout", "dir:1", "dir:1"},
		{"links.tar", "", "app:links"},
	}
	s := openStore(t)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			out, err := s.Import(filepath.Join(dir, c.file), ImportOptions{Tag: c.tag})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := NormaliseReference(c.ref)
			if out[len(out)-1].Ref != want {
				t.Errorf("imported %+v, want ref %s", out, want)
			}
			checkImage(t, s, c.ref, img)
		})
	}
	// Every import shares the same unpacked layers: one dir per diff id.
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "layers", "sha256")); len(ents) != 3 {
		t.Errorf("%d unpacked layers, want 3 (shared)", len(ents))
	}
	// Export in both formats and import into fresh stores.
	for _, format := range []string{FormatDocker, FormatOCI} {
		for _, ref := range []string{"app:classic", "example.org/app:oci"} {
			t.Run("export-"+format+"-"+ref, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "out.tar")
				if err := s.Export(ref, file, format); err != nil {
					t.Fatal(err)
				}
				s2 := openStore(t)
				out, err := s2.Import(file, ImportOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got := checkImage(t, s2, ref, img)
				orig, _ := s.Resolve(ref)
				// OCI keeps the manifest byte for byte; docker archives carry
				// no manifest, so the image is identified by its config.
				gotInfo, _ := s2.Inspect(ref)
				origInfo, _ := s.Inspect(ref)
				if format == FormatDocker && gotInfo.Manifest.Config.Digest != origInfo.Manifest.Config.Digest {
					t.Errorf("round trip changed the config digest: %s -> %s", origInfo.Manifest.Config.Digest, gotInfo.Manifest.Config.Digest)
				}
				if format == FormatOCI && got.Digest != orig.Digest {
					t.Errorf("round trip changed the manifest digest: %s -> %s (%+v)", orig.Digest, got.Digest, out)
				}
			})
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportErrors: corrupt archives, digest mismatches (naming the layer),
// bad references and unknown images each give one clear line.
func TestImportErrors(t *testing.T) {
	img, layers := testImage(t, 2)
	dir := t.TempDir()
	cf, _ := img.ConfigFile()
	bad := cf.DeepCopy()
	bad.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	badCfg, _ := json.Marshal(bad)
	imagetest.ClassicDockerArchive(t, filepath.Join(dir, "diffid.tar"), []string{"x:1"}, badCfg, layers...)
	imagetest.OCILayout(t, filepath.Join(dir, "layout"), "example.org/x:1", img)
	l1, _ := img.Layers()
	d1, _ := l1[1].Digest()
	blob := filepath.Join(dir, "layout", "blobs", "sha256", d1.Hex)
	os.Chmod(blob, 0o644)
	os.WriteFile(blob, imagetest.Gzip(t, imagetest.Layer(t, imagetest.Reg("tampered", "x"))), 0o644)
	os.WriteFile(filepath.Join(dir, "garbage.tar"), []byte(strings.Repeat("not a tar ", 200)), 0o644)
	os.WriteFile(filepath.Join(dir, "empty.tar"), imagetest.Layer(t, imagetest.Reg("hello", "x")), 0o644)
	ggcr := filepath.Join(dir, "ggcr.tar")
	imagetest.DockerArchive(t, ggcr, "x:2", img)
	b := mustRead(t, ggcr)
	os.WriteFile(filepath.Join(dir, "truncated.tar"), b[:len(b)/2], 0o644)
	os.WriteFile(filepath.Join(dir, "truncated.tar.gz"), imagetest.Gzip(t, b)[:len(b)/4], 0o644)
	os.WriteFile(filepath.Join(dir, "hostlink.tar"), imagetest.Layer(t,
		imagetest.Reg("c.json", `{"rootfs":{"type":"layers","diff_ids":["sha256:`+strings.Repeat("0", 64)+`"]}}`),
		imagetest.Symlink("0/layer.tar", "/etc/passwd"),
		imagetest.Reg("manifest.json", `[{"Config":"c.json","RepoTags":["h:1"],"Layers":["0/layer.tar"]}]`)), 0o644)
	os.WriteFile(filepath.Join(dir, "hostpath.tar"), imagetest.Layer(t,
		imagetest.Reg("c.json", `{"rootfs":{"type":"layers","diff_ids":["sha256:`+strings.Repeat("0", 64)+`"]}}`),
		imagetest.Reg("manifest.json", `[{"Config":"c.json","RepoTags":["h:1"],"Layers":["../../../../../../etc/passwd"]}]`)), 0o644)
	cases := []struct {
		file string
		is   error
		want string
	}{
		{"hostlink.tar", ErrArchive, "opening 0/layer.tar in the archive"},
		{"hostpath.tar", ErrArchive, "opening ../../../../../../etc/passwd in the archive"},
		{"diffid.tar", ErrDigest, "layer 2/3"},
		{"layout", ErrDigest, "layer 2/3 (" + d1.String() + ")"},
		{"garbage.tar", ErrArchive, "not an image archive"},
		{"empty.tar", ErrArchive, "neither oci-layout"},
		{"truncated.tar", nil, "truncated.tar"},
		{"truncated.tar.gz", nil, "truncated.tar.gz"},
		{"missing.tar", os.ErrNotExist, "no such file"},
	}
	s := openStore(t)
	for _, c := range cases {
		_, err := s.Import(filepath.Join(dir, c.file), ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("import %s: %v; want one line with %q (errors.Is %v)", c.file, err, c.want, c.is)
		}
	}
	if problems, _ := s.Verify(); len(problems) != 0 {
		t.Errorf("store inconsistent after failed imports: %q", problems)
	}
	for ref, is := range map[string]error{"no/such:image": ErrNotFound, "UPPER/Case": ErrBadReference, "a:b:c": ErrBadReference, "": ErrBadReference, "abcdef012345": ErrNotFound} {
		if _, err := s.Resolve(ref); !errors.Is(err, is) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Resolve(%q) = %v, want %v", ref, err, is)
		}
	}
}

// TestSharedBase: N images on one base store the base once; du shows it
// as shared and prune keeps what is referenced.
func TestSharedBase(t *testing.T) {
	s := openStore(t)
	base := imagetest.RandomLayer(t, 100, "base", 200)
	const n = 4
	for i := 0; i < n; i++ {
		img := imagetest.Image(t, testConfig, base, imagetest.RandomLayer(t, int64(i), "app", 5))
		file := filepath.Join(t.TempDir(), "a.tar")
		imagetest.DockerArchive(t, file, fmt.Sprintf("app%d:1", i), img)
		if _, err := s.Import(file, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "layers", "sha256")); len(ents) != n+1 {
		t.Errorf("%d unpacked layers, want %d", len(ents), n+1)
	}
	u, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Images) != n {
		t.Fatalf("du lists %d images", len(u.Images))
	}
	for _, im := range u.Images {
		if im.Shared <= im.Unique || im.Shared+im.Unique != im.Size {
			t.Errorf("%s: size %d shared %d unique %d", im.Ref, im.Size, im.Shared, im.Unique)
		}
	}
	if u.Total >= u.SumOfImages*2/3 {
		t.Errorf("store takes %d bytes, the images add up to %d: base not shared", u.Total, u.SumOfImages)
	}
	// rm + prune: the base stays while an image uses it.
	for i := 0; i < n-1; i++ {
		if _, err := s.Remove(fmt.Sprintf("app%d:1", i)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Prune(PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Layers != n-1 || p.Blobs != 3*(n-1) {
		t.Errorf("prune removed %+v, want %d layers and %d blobs", p, n-1, 3*(n-1))
	}
	if locks, _ := os.ReadDir(filepath.Join(s.Root(), "locks")); len(locks) > 2 {
		t.Errorf("prune left per-digest lock files: %v", locks) // store and index stay
	}
	checkImage(t, s, fmt.Sprintf("app%d:1", n-1), imagetest.Image(t, testConfig, base, imagetest.RandomLayer(t, n-1, "app", 5)))
	if _, err := s.Resolve("app0:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed image resolves: %v", err)
	}
}

func TestTagListInspectRemove(t *testing.T) {
	s := openStore(t)
	img, _ := testImage(t, 3)
	file := filepath.Join(t.TempDir(), "a.tar")
	imagetest.DockerArchive(t, file, "debian/firefox:esr", img)
	out, err := s.Import(file, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("debian/firefox:esr", "localhost:5000/ff:copy"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("debian/firefox:esr", "x@sha256:"+strings.Repeat("a", 64)); !errors.Is(err, ErrBadReference) {
		t.Errorf("tag to a digest: %v", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].Ref != "index.docker.io/debian/firefox:esr" || list[1].Ref != "localhost:5000/ff:copy" || list[0].Digest != list[1].Digest || list[0].Layers != 3 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if Familiar(list[0].Ref) != "debian/firefox:esr" {
		t.Errorf("Familiar = %s", Familiar(list[0].Ref))
	}
	for _, ref := range []string{out[0].Digest, out[0].Digest[7:19], "localhost:5000/ff@" + out[0].Digest, "docker.io/debian/firefox:esr"} {
		info, err := s.Inspect(ref)
		if err != nil || info.Digest != out[0].Digest || len(info.Layers) != 3 || !info.Layers[0].Unpacked {
			t.Errorf("Inspect(%s) = %+v, %v", ref, info, err)
		}
	}
	if removed, err := s.Remove(out[0].Digest[7:19]); err != nil || len(removed) != 2 {
		t.Errorf("Remove by digest = %v, %v", removed, err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("List after rm = %+v", list)
	}
}

// TestCache: CommitCache entries resolve by key, are not listed, survive
// prune and go with prune --cache.
func TestCache(t *testing.T) {
	s := openStore(t)
	l, err := s.AddLayer(strings.NewReader(string(imagetest.Layer(t, imagetest.Reg("a", "a")))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitCache("step1", []Layer{l}, testConfig); err != nil {
		t.Fatal(err)
	}
	if img, err := s.LookupCache("step1"); err != nil || img.Layers[0] != l {
		t.Fatalf("LookupCache = %+v, %v", img, err)
	}
	if _, err := s.LookupCache("step2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCache(step2) = %v", err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("cache listed: %+v", list)
	}
	if p, _ := s.Prune(PruneOptions{}); p.Layers != 0 || p.Blobs != 0 {
		t.Errorf("prune removed cached %+v", p)
	}
	if p, _ := s.Prune(PruneOptions{Cache: true}); p.Layers != 1 || p.Blobs != 3 {
		t.Errorf("prune --cache removed %+v", p)
	}
}

// TestVerifyFindsDamage: tampering with a blob or an unpacked layer is
// reported; a deleted unpacked layer is re-made by Resolve.
func TestVerifyFindsDamage(t *testing.T) {
	s := openStore(t)
	img, _ := testImage(t, 4)
	file := filepath.Join(t.TempDir(), "a.tar")
	imagetest.DockerArchive(t, file, "v:1", img)
	if _, err := s.Import(file, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	got := checkImage(t, s, "v:1", img)
	top := got.Layers[2].Dir
	ents, _ := os.ReadDir(filepath.Join(top, "app4"))
	victim := filepath.Join(top, "app4", ents[0].Name())
	os.Remove(victim)
	problems, _ := s.Verify()
	if len(problems) != 1 || !strings.Contains(problems[0], "missing") {
		t.Errorf("Verify after deleting %s = %q", victim, problems)
	}
	removeTree(top)
	if problems, _ := s.Verify(); len(problems) != 1 || !strings.Contains(problems[0], "not unpacked") {
		t.Errorf("Verify after deleting a layer = %q", problems)
	}
	checkImage(t, s, "v:1", img) // Resolve unpacks it again
	blob := s.blobPath(v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(got.Digest, "sha256:")})
	os.WriteFile(blob, []byte("{}"), 0o644)
	if problems, _ := s.Verify(); len(problems) < 1 || !strings.Contains(problems[0], "content is sha256:") {
		t.Errorf("Verify after corrupting the manifest = %q", problems)
	}
}

// countingBlobs wraps the registry's blob store: it counts GETs per digest
// and can serve wrong content for one digest.
type countingBlobs struct {
	registry.BlobHandler
	mu      sync.Mutex
	gets    map[string]int
	corrupt string
}

func (c *countingBlobs) Get(ctx context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets[h.String()]++
	c.mu.Unlock()
	if h.String() == c.corrupt {
		return io.NopCloser(strings.NewReader("corrupted content")), nil
	}
	return c.BlobHandler.Get(ctx, repo, h)
}

func (c *countingBlobs) Stat(ctx context.Context, repo string, h v1.Hash) (int64, error) {
	return c.BlobHandler.(registry.BlobStatHandler).Stat(ctx, repo, h)
}

func (c *countingBlobs) Put(ctx context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	return c.BlobHandler.(registry.BlobPutHandler).Put(ctx, repo, h, rc)
}

func TestPull(t *testing.T) {
	blobs := &countingBlobs{BlobHandler: registry.NewInMemoryBlobHandler(), gets: map[string]int{}}
	host := imagetest.Registry(t, registry.WithBlobHandler(blobs))
	img, _ := testImage(t, 5)
	imagetest.Push(t, host+"/app/x:1", img)
	imagetest.Push(t, host+"/app/y:1", img)
	s := openStore(t)
	// Concurrent pulls of the same image fetch each blob once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	events := make([][]Event, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Pull(context.Background(), host+"/app/x:1", PullOptions{Progress: func(e Event) { events[i] = append(events[i], e) }})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pull %d: %v", i, err)
		}
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if n := blobs.gets[d.String()]; n != 1 {
			t.Errorf("layer %s fetched %d times", d, n)
		}
	}
	sawDone := false
	for _, evs := range events {
		for _, e := range evs {
			if e.Phase == "done" && e.Count == 3 {
				sawDone = true
			}
		}
	}
	if !sawDone {
		t.Errorf("no progress event reported a finished layer: %+v", events)
	}
	got := checkImage(t, s, host+"/app/x:1", img)
	want, _ := img.Digest()
	if got.Digest != want.String() {
		t.Errorf("pulled digest %s, pushed %s", got.Digest, want)
	}
	// Pulling by digest and another name: nothing fetched again.
	before := fmt.Sprint(blobs.gets)
	if _, err := s.Pull(context.Background(), host+"/app/y@"+want.String(), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		if n := blobs.gets[d.String()]; n != 1 {
			t.Errorf("layer %s fetched again (%s -> %v)", d, before, blobs.gets)
		}
	}
	// A registry serving wrong content: the error names the layer; the
	// store stays consistent.
	other, _ := testImage(t, 6)
	imagetest.Push(t, host+"/app/z:1", other)
	ol, _ := other.Layers()
	bad, _ := ol[2].Digest()
	blobs.corrupt = bad.String()
	_, err := s.Pull(context.Background(), host+"/app/z:1", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "layer 3/3 ("+bad.String()+")") || strings.Contains(err.Error(), "\n") {
		t.Errorf("pull of a corrupted layer: %v", err)
	}
	if problems, _ := s.Verify(); len(problems) != 0 {
		t.Errorf("store after failed pull: %q", problems)
	}
	if _, err := s.Pull(context.Background(), host+"/app/nosuch:1", PullOptions{}); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("pull of a missing image: %v", err)
	}
}

// TestPullAuth: credentials come from $REGISTRY_AUTH_FILE.
func TestPullAuth(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httpBasicAuth(t, reg, "nook", "s3cret")
	img, _ := testImage(t, 7)
	auth := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(auth, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":"bm9vazpzM2NyZXQ="}}}`, srv)), 0o600)
	t.Setenv("REGISTRY_AUTH_FILE", auth)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	imagetest.Push(t, srv+"/a:1", img) // the default keychain also serves the push
	s := openStore(t)
	if _, err := s.Pull(context.Background(), srv+"/a:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(t.TempDir(), "none.json"))
	s2 := openStore(t)
	if _, err := s2.Pull(context.Background(), srv+"/a:1", PullOptions{}); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") && !strings.Contains(err.Error(), "401") {
		t.Errorf("pull without credentials: %v", err)
	}
}

func httpBasicAuth(t *testing.T, h http.Handler, user, pass string) string {
	return imagetest.ServeWithBasicAuth(t, h, user, pass)
}

// TestConcurrentImports: several stores on one root (as separate processes
// would be: flocks are per open file) import the same archive at once; each
// layer is unpacked once and every import succeeds.
func TestConcurrentImports(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	img, _ := testImage(t, 8)
	file := filepath.Join(t.TempDir(), "a.tar")
	imagetest.DockerArchive(t, file, "c:1", img)
	before := layersUnpacked.Load()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(root)
			if err == nil {
				_, err = s.Import(file, ImportOptions{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("import %d: %v", i, err)
		}
	}
	if n := layersUnpacked.Load() - before; n != 3 {
		t.Errorf("%d layers unpacked for a 3-layer image imported 4 times at once", n)
	}
	s, _ := Open(root)
	checkImage(t, s, "c:1", img)
}

// TestPullIndex: a multi-platform image gives the linux image of this
// machine's architecture.
func TestPullIndex(t *testing.T) {
	host := imagetest.Registry(t)
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"arm64", runtime.GOARCH, "s390x"} {
		img := imagetest.Image(t, v1.Config{Cmd: []string{"/" + arch}}, imagetest.RandomLayer(t, int64(len(arch)), arch, 2))
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.Architecture = arch
		img, _ = mutate.ConfigFile(img, cf)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	r, _ := name.ParseReference(host+"/multi:1", name.Insecure)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	if _, err := s.Pull(context.Background(), host+"/multi:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	// The same index in an OCI layout, imported.
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{AnnotationRef: "example.org/multi:2"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(dir, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{host + "/multi:1", "example.org/multi:2"} {
		img, err := s.Resolve(ref)
		if err != nil || len(img.Config.Cmd) != 1 || img.Config.Cmd[0] != "/"+runtime.GOARCH {
			t.Errorf("%s: %+v, %v; want the %s image", ref, img, err, runtime.GOARCH)
		}
	}
}
