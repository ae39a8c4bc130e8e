package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// ErrArchive: a file is not an image archive nook can read.
var ErrArchive = errors.New("not an image archive")

// Imported names one image an import stored.
type Imported struct {
	Ref    string // normalised tag; "" when the archive names none
	Digest string // manifest digest in the store
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Tag, when set, also tags the archive's image with it (the archive must
	// hold exactly one image).
	Tag string
	// Progress, when not nil, is told about each layer.
	Progress Progress
}

// Import stores the images of file: a `docker save` archive, an OCI archive
// (podman save --format oci-archive, skopeo copy ... oci-archive:) or an
// OCI layout directory; archives may be gzip or zstd compressed. Archives
// are first unpacked under the store's tmp/ with the same rules as layers
// (nothing is written outside it, no symlink leads out), so an import needs
// temporary space the size of the archive. Every blob and diff ID is
// verified. Tags the archive names are set, replacing older images of the
// same tags.
func (s *Store) Import(file string, opt ImportOptions) ([]Imported, error) {
	var tagRef string
	if opt.Tag != "" {
		var err error
		if tagRef, err = NormaliseReference(opt.Tag); err != nil {
			return nil, err
		}
	}
	dir := file
	if fi, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("importing %s: %w", file, err)
	} else if !fi.IsDir() {
		lk, err := s.writing()
		if err != nil {
			return nil, err
		}
		defer lk.unlock()
		tmp, release, err := s.privateTmp("import-")
		if err != nil {
			return nil, fmt.Errorf("importing %s: %w", file, err)
		}
		defer release()
		if err := extractArchive(file, tmp); err != nil {
			return nil, fmt.Errorf("importing %s: %w", file, err)
		}
		dir = tmp
	}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", file, err)
	}
	defer unix.Close(root)
	var imgs []namedSource
	switch {
	case fileInRoot(root, "oci-layout"):
		imgs, err = ociSources(root)
	case fileInRoot(root, "manifest.json"):
		imgs, err = dockerSources(root)
	default:
		err = fmt.Errorf("%w: it has neither oci-layout (OCI) nor manifest.json (docker save)", ErrArchive)
	}
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", file, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("importing %s: %w: it holds no image", file, ErrArchive)
	}
	if tagRef != "" && len(imgs) != 1 {
		return nil, fmt.Errorf("importing %s: --tag needs an archive of one image, this one has %d", file, len(imgs))
	}
	var out []Imported
	for _, im := range imgs {
		desc, err := s.putImage(im.src, opt.Progress)
		if err != nil {
			return out, fmt.Errorf("importing %s: %w", file, err)
		}
		refs := im.refs
		if tagRef != "" {
			refs = append(refs, tagRef)
		}
		if err := s.updateIndex(func(idx *v1.IndexManifest) error {
			if len(refs) == 0 && !hasDigest(idx, desc.Digest) {
				idx.Manifests = append(idx.Manifests, desc)
			}
			for _, r := range refs {
				setTag(idx, r, desc)
			}
			return nil
		}); err != nil {
			return out, err
		}
		if len(refs) == 0 {
			out = append(out, Imported{Digest: desc.Digest.String()})
		}
		for _, r := range refs {
			out = append(out, Imported{Ref: r, Digest: desc.Digest.String()})
		}
	}
	return out, nil
}

func hasDigest(idx *v1.IndexManifest, d v1.Hash) bool {
	for _, m := range idx.Manifests {
		if m.Digest == d {
			return true
		}
	}
	return false
}

// extractArchive unpacks the (possibly compressed) tar file into dir.
func extractArchive(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := decompress(f)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	defer rd.Close()
	if _, err := unpack(rd, dir); err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	return nil
}

type namedSource struct {
	refs []string
	src  source
}

// openInRoot opens name inside the directory root; symlinks are resolved as
// if root were "/", so nothing outside root can be read.
func openInRoot(root int, name string) (*os.File, error) {
	fd, err := unix.Openat2(root, cleanName(name), &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: resolveInRoot})
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s in the archive: %v", ErrArchive, name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrArchive, name)
	}
	return f, nil
}

func fileInRoot(root int, name string) bool {
	f, err := openInRoot(root, name)
	if err == nil {
		f.Close()
	}
	return err == nil
}

func readInRoot(root int, name string, v any) ([]byte, error) {
	f, err := openInRoot(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, err
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrArchive, name, err)
		}
	}
	return b, nil
}

// dockerSources reads a docker save archive's manifest.json.
func dockerSources(root int) ([]namedSource, error) {
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if _, err := readInRoot(root, "manifest.json", &entries); err != nil {
		return nil, err
	}
	var out []namedSource
	for _, e := range entries {
		cfg, err := readInRoot(root, e.Config, nil)
		if err != nil {
			return nil, err
		}
		ns := namedSource{src: source{config: cfg}}
		for _, t := range e.RepoTags {
			r, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("%w: manifest.json tag %q: %v", ErrArchive, t, err)
			}
			ns.refs = append(ns.refs, r.Name())
		}
		for _, l := range e.Layers {
			size := int64(-1)
			ns.src.layers = append(ns.src.layers, srcLayer{size: size, open: func() (io.ReadCloser, error) {
				f, err := openInRoot(root, l)
				if err != nil {
					return nil, err
				}
				rd, err := decompress(f)
				if err != nil {
					f.Close()
					return nil, err
				}
				return struct {
					io.Reader
					io.Closer
				}{rd, f}, nil
			}})
		}
		out = append(out, ns)
	}
	return out, nil
}

// ociSources reads an OCI layout's index.json. An entry that is an index
// (several platforms) contributes its linux/GOARCH manifest.
func ociSources(root int) ([]namedSource, error) {
	var idx v1.IndexManifest
	if _, err := readInRoot(root, "index.json", &idx); err != nil {
		return nil, err
	}
	blob := func(d v1.Hash) string { return path.Join("blobs", d.Algorithm, d.Hex) }
	var out []namedSource
	for _, desc := range idx.Manifests {
		md := desc
		if desc.MediaType.IsIndex() {
			var sub v1.IndexManifest
			if _, err := readInRoot(root, blob(desc.Digest), &sub); err != nil {
				return nil, err
			}
			found := false
			for _, m := range sub.Manifests {
				if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
					md, found = m, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("%w: index %s has no linux/%s image", ErrArchive, desc.Digest, runtime.GOARCH)
			}
		}
		raw, err := readInRoot(root, blob(md.Digest), nil)
		if err != nil {
			return nil, err
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%w: manifest %s: %v", ErrArchive, md.Digest, err)
		}
		cfg, err := readInRoot(root, blob(m.Config.Digest), nil)
		if err != nil {
			return nil, err
		}
		ns := namedSource{src: source{config: cfg, manifest: raw}}
		if r := ociRefName(desc.Annotations); r != "" {
			ns.refs = []string{r}
		}
		for _, l := range m.Layers {
			ns.src.layers = append(ns.src.layers, srcLayer{size: l.Size, open: func() (io.ReadCloser, error) {
				return openInRoot(root, blob(l.Digest))
			}})
		}
		out = append(out, ns)
	}
	return out, nil
}

// ociRefName is the normalised image name an OCI index entry carries:
// containerd's io.containerd.image.name, else org.opencontainers.image.ref.name
// when it is a full reference (a bare tag such as "latest" names no
// repository, so it is ignored).
func ociRefName(a map[string]string) string {
	for _, v := range []string{a["io.containerd.image.name"], a[AnnotationRef]} {
		if v == "" || !strings.ContainsAny(v, "/:") {
			continue
		}
		if r, err := name.NewTag(v); err == nil {
			return r.Name()
		}
	}
	return ""
}
