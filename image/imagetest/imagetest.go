// Package imagetest builds layers, images, archives and registries for
// tests of the image store and its users: hand-made tars (hostile ones
// included), docker save and OCI archives, and an in-process registry (go-
// containerregistry's pkg/registry) on a loopback httptest server.
package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one tar entry, written as given: names are not cleaned, so
// "../x", "/etc/x" and links anywhere make hostile archives.
type File struct {
	Name     string
	Body     string
	Mode     int64 // default 0644 for files, 0755 for directories
	Type     byte  // tar.TypeReg when zero
	Linkname string
	Uid, Gid int
	Major    int64 // Devmajor, Devminor of device nodes
	Minor    int64
	Xattrs   map[string]string
}

// Dir is a directory entry.
func Dir(name string) File { return File{Name: name, Type: tar.TypeDir} }

// Reg is a regular file entry.
func Reg(name, body string) File { return File{Name: name, Body: body} }

// Symlink is a symbolic link entry.
func Symlink(name, target string) File {
	return File{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// Hardlink is a hard link entry.
func Hardlink(name, target string) File {
	return File{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout is the OCI whiteout of path (an entry .wh.BASE in path's dir).
func Whiteout(path string) File {
	dir, base := filepath.Split(path)
	return File{Name: dir + ".wh." + base}
}

// Opaque is the OCI opaque marker of dir.
func Opaque(dir string) File { return File{Name: strings.TrimSuffix(dir, "/") + "/.wh..wh..opq"} }

// Layer returns an uncompressed tar of files, in order.
func Layer(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Typeflag: f.Type, Mode: f.Mode, Linkname: f.Linkname, Uid: f.Uid, Gid: f.Gid,
			Devmajor: f.Major, Devminor: f.Minor, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(f.Body))
		}
		for k, v := range f.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar entry %q: %v", f.Name, err)
		}
		if hdr.Size > 0 {
			if _, err := io.WriteString(tw, f.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// RandomLayer is a layer of n files of random content under dir, made
// from seed (different seeds, different layers).
func RandomLayer(t testing.TB, seed int64, dir string, n int) []byte {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	files := []File{Dir(dir + "/")}
	for i := 0; i < n; i++ {
		body := make([]byte, r.Intn(4096))
		r.Read(body)
		files = append(files, Reg(fmt.Sprintf("%s/f%d-%d", dir, seed, i), string(body)))
	}
	return Layer(t, files...)
}

// WriteMixedLayer writes to w an uncompressed layer of about total bytes of
// mixed content, like a system image: many small files (most under 16 KiB)
// in nested directories, a few large ones, symlinks and hard links. It is
// deterministic for a seed.
func WriteMixedLayer(w io.Writer, seed, total int64) error {
	r := rand.New(rand.NewSource(seed))
	tw := tar.NewWriter(w)
	mt := time.Unix(1700000000, 0)
	chunk := make([]byte, 1<<20)
	r.Read(chunk)
	var written int64
	for d := 0; written < total; d++ {
		dir := fmt.Sprintf("usr/share/d%03d/sub%02d/", d/20, d%20)
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}); err != nil {
			return err
		}
		for i := 0; i < 50 && written < total; i++ {
			size := int64(r.ExpFloat64() * 8192)
			if r.Intn(200) == 0 {
				size = min(int64(r.Intn(32<<20))+1<<20, total-written)
			}
			name := fmt.Sprintf("%sfile%03d", dir, i)
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: mt}); err != nil {
				return err
			}
			for left := size; left > 0; {
				n := min(left, int64(len(chunk)))
				off := r.Intn(len(chunk) - int(n) + 1)
				if _, err := tw.Write(chunk[off : off+int(n)]); err != nil {
					return err
				}
				left -= n
			}
			written += size
			if i%10 == 0 {
				tw.WriteHeader(&tar.Header{Name: name + ".link", Typeflag: tar.TypeSymlink, Linkname: fmt.Sprintf("file%03d", i), ModTime: mt})
			}
			if i%25 == 0 {
				tw.WriteHeader(&tar.Header{Name: name + ".hard", Typeflag: tar.TypeLink, Linkname: name, ModTime: mt})
			}
		}
	}
	return tw.Close()
}

// Image is an image of the uncompressed layers (base first) with config
// cfg. Its layers are gzip-compressed, as a registry serves them.
func Image(t testing.TB, cfg v1.Config, layers ...[]byte) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		b := l
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config, cf.OS, cf.Architecture = cfg, "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(1700000000, 0).UTC()}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// DockerArchive writes img as a `docker save` archive tagged ref, with
// go-containerregistry's tarball writer.
func DockerArchive(t testing.TB, path, ref string, img v1.Image) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
}

// ClassicDockerArchive writes a docker save archive as Docker before 25 did:
// DIR/layer.tar holding each layer uncompressed, a config named HEX.json
// and manifest.json with RepoTags. config is the raw config JSON; its diff
// ids must match layers for an import to succeed (tests break it on
// purpose).
func ClassicDockerArchive(t testing.TB, path string, tags []string, config []byte, layers ...[]byte) {
	t.Helper()
	var files []File
	var names []string
	for i, l := range layers {
		n := fmt.Sprintf("%064d/layer.tar", i)
		names = append(names, n)
		files = append(files, Dir(fmt.Sprintf("%064d/", i)), Reg(n, string(l)))
	}
	files = append(files, Reg("config.json", string(config)))
	man := fmt.Sprintf(`[{"Config":"config.json","RepoTags":%s,"Layers":%s}]`, jsonList(tags), jsonList(names))
	files = append(files, Reg("manifest.json", man))
	if err := os.WriteFile(path, Layer(t, files...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ClassicDockerArchiveFiles is ClassicDockerArchive for layers in files
// (large ones), with a config made up to match them (Cmd ["/bin/sh"]).
// Nothing is held in memory.
func ClassicDockerArchiveFiles(t testing.TB, path string, tags []string, layerFiles ...string) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	var diffIDs, names []string
	for i, lf := range layerFiles {
		f, err := os.Open(lf)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		name := fmt.Sprintf("%064d/layer.tar", i)
		names = append(names, name)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), ModTime: time.Unix(1700000000, 0)})
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(tw, h), f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		diffIDs = append(diffIDs, fmt.Sprintf("sha256:%x", h.Sum(nil)))
	}
	cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":%s}}`, jsonList(diffIDs))
	man := fmt.Sprintf(`[{"Config":"config.json","RepoTags":%s,"Layers":%s}]`, jsonList(tags), jsonList(names))
	for _, f := range []File{Reg("config.json", cfg), Reg("manifest.json", man)} {
		tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o644, Size: int64(len(f.Body)), ModTime: time.Unix(1700000000, 0)})
		io.WriteString(tw, f.Body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func jsonList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// OCILayout writes img into a new OCI image layout directory dir, its index
// entry annotated with ref (skipped when ref is "").
func OCILayout(t testing.TB, dir, ref string, img v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	var opts []layout.Option
	if ref != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}))
	}
	if err := p.AppendImage(img, opts...); err != nil {
		t.Fatal(err)
	}
}

// OCIArchive writes img as an OCI archive (a tar of an OCI layout), gzip
// compressed when gz is set.
func OCIArchive(t testing.TB, path, ref string, img v1.Image, gz bool) {
	t.Helper()
	dir := t.TempDir()
	OCILayout(t, dir, ref, img)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if gz {
		b = Gzip(t, b)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Registry starts go-containerregistry's in-process registry on a loopback
// httptest server, stopped when the test ends, and returns its host:port.
// opts can replace its blob handler (registry.WithBlobHandler).
func Registry(t testing.TB, opts ...registry.Option) string {
	t.Helper()
	opts = append([]registry.Option{registry.Logger(log.New(io.Discard, "", 0))}, opts...)
	srv := httptest.NewServer(registry.New(opts...))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// ServeWithBasicAuth serves h on a loopback httptest server that demands
// HTTP basic authentication as user:pass, and returns its host:port.
func ServeWithBasicAuth(t testing.TB, h http.Handler, user, pass string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="imagetest"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Push uploads img to ref (on a Registry) over plain HTTP.
func Push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}
