package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/nook-sandbox/nook/image/layout"
)

// Annotations on index.json entries (package layout's).
const (
	// AnnotationRef names a tagged image, with its full normalised reference.
	AnnotationRef = layout.AnnotationRef
	// AnnotationCache keys a build-cache entry (see CommitCache).
	AnnotationCache = layout.AnnotationCache
)

// ParseReference parses an image reference: "debian/firefox:esr",
// "localhost:5000/x:y", "alpine" (Docker Hub, tag latest) or
// "name@sha256:...". Errors wrap ErrBadReference.
func ParseReference(ref string) (name.Reference, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: empty reference", ErrBadReference)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, ref, err)
	}
	return r, nil
}

// NormaliseReference returns the full form of a tag or digest reference
// ("alpine" -> "index.docker.io/library/alpine:latest").
func NormaliseReference(ref string) (string, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	return r.Name(), nil
}

// Familiar is the short form people type: Docker Hub's registry and
// "library/" are left out ("index.docker.io/library/alpine:latest" ->
// "alpine:latest").
func Familiar(ref string) string { return layout.Familiar(ref) }

// readIndex reads index.json; a missing file is an empty index.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("reading image index %s: %w (run nook image verify)", s.indexPath(), err)
	}
	return &idx, nil
}

// updateIndex changes index.json under its lock and replaces it atomically.
func (s *Store) updateIndex(change func(*v1.IndexManifest) error) error {
	lk, err := s.lockFile("index", true)
	if err != nil {
		return err
	}
	defer lk.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := change(idx); err != nil {
		return err
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.tmpDir(), s.indexPath(), append(b, '\n')); err != nil {
		return fmt.Errorf("writing image index: %w", err)
	}
	return nil
}

// setTag points ref (normalised) at desc, replacing what it named before.
func setTag(idx *v1.IndexManifest, ref string, desc v1.Descriptor) {
	removeTag(idx, ref)
	desc.Annotations = map[string]string{AnnotationRef: ref}
	desc.Platform = nil
	idx.Manifests = append(idx.Manifests, desc)
}

func removeTag(idx *v1.IndexManifest, ref string) bool {
	kept := idx.Manifests[:0]
	found := false
	for _, d := range idx.Manifests {
		if d.Annotations[AnnotationRef] == ref {
			found = true
			continue
		}
		kept = append(kept, d)
	}
	idx.Manifests = kept
	return found
}

// lookup finds the index entry of ref by package layout's rules (the ones
// `nook run` reads the store by): a tag first, then a digest or a digest
// prefix of at least 6 hex digits (as `nook image ls` shows).
func (s *Store) lookup(ref string) (v1.Descriptor, string, error) {
	idx, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	entries := make([]layout.Entry, len(idx.Manifests))
	for i, m := range idx.Manifests {
		entries[i] = layout.Entry{Digest: m.Digest.String(), Ref: m.Annotations[AnnotationRef]}
	}
	i, tag, err := layout.Find(entries, ref)
	if err != nil {
		return v1.Descriptor{}, "", err
	}
	return idx.Manifests[i], tag, nil
}

// Resolve returns the image ref names, unpacking any layer whose directory
// is missing. Errors wrap ErrNotFound or ErrBadReference when that is why.
func (s *Store) Resolve(ref string) (*Image, error) {
	desc, tag, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	img, err := s.load(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	img.Ref = tag
	return img, nil
}

// manifestOf reads and parses a stored manifest and its config.
func (s *Store) manifestOf(d v1.Hash) (*v1.Manifest, *v1.ConfigFile, error) {
	b, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w (run nook image verify)", d, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	cb, err := os.ReadFile(s.blobPath(m.Config.Digest))
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w (run nook image verify)", m.Config.Digest, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cb))
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, nil, fmt.Errorf("manifest %s has %d layers but its config %d diff ids", d, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	return &m, cfg, nil
}

func (s *Store) load(d v1.Hash) (*Image, error) {
	m, cfg, err := s.manifestOf(d)
	if err != nil {
		return nil, err
	}
	img := &Image{Digest: d.String(), Config: cfg.Config}
	for i, l := range m.Layers {
		diff := cfg.RootFS.DiffIDs[i]
		layer := Layer{DiffID: diff.String(), Dir: s.layerDir(diff)}
		if !exists(layer.Dir) {
			lk, err := s.writing()
			if err != nil {
				return nil, err
			}
			layer, err = s.ensureLayer(l.Digest, diff, layerName(i, len(m.Layers), l.Digest), nil)
			lk.unlock()
			if err != nil {
				return nil, err
			}
		}
		img.Layers = append(img.Layers, layer)
	}
	return img, nil
}

func layerName(i, n int, d v1.Hash) string {
	return fmt.Sprintf("layer %d/%d (%s)", i+1, n, d)
}

// Commit stores an image made of layers (base first, each from AddLayer or
// another image) and cfg, and tags it ref, replacing the image the tag named
// before. An empty ref stores it untagged.
func (s *Store) Commit(ref string, layers []Layer, cfg v1.Config) (*Image, error) {
	var norm string
	if ref != "" {
		r, err := ParseReference(ref)
		if err != nil {
			return nil, err
		}
		if _, ok := r.(name.Tag); !ok {
			return nil, fmt.Errorf("%w: %s: commit needs a tag, not a digest", ErrBadReference, ref)
		}
		norm = r.Name()
	}
	return s.commit(layers, cfg, func(idx *v1.IndexManifest, desc v1.Descriptor) {
		if norm != "" {
			setTag(idx, norm, desc)
		} else {
			idx.Manifests = append(idx.Manifests, desc)
		}
	}, norm)
}

// CommitCache stores an image like Commit, recorded under the build-cache
// key instead of a tag: `nook image ls` does not show it and prune keeps it
// (prune --cache drops it).
func (s *Store) CommitCache(key string, layers []Layer, cfg v1.Config) (*Image, error) {
	if key == "" {
		return nil, errors.New("empty build cache key")
	}
	return s.commit(layers, cfg, func(idx *v1.IndexManifest, desc v1.Descriptor) {
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			if d.Annotations[AnnotationCache] != key {
				kept = append(kept, d)
			}
		}
		desc.Annotations = map[string]string{AnnotationCache: key}
		idx.Manifests = append(kept, desc)
	}, "")
}

// LookupCache returns the image stored by CommitCache under key, or an
// error wrapping ErrNotFound.
func (s *Store) LookupCache(key string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	for _, d := range idx.Manifests {
		if d.Annotations[AnnotationCache] == key {
			img, err := s.load(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("build cache %s: %w", key, err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("%w: build cache %s", ErrNotFound, key)
}

func (s *Store) commit(layers []Layer, cfg v1.Config, record func(*v1.IndexManifest, v1.Descriptor), ref string) (*Image, error) {
	lk, err := s.writing()
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	cf := v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux", Config: cfg, RootFS: v1.RootFS{Type: "layers"}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for _, l := range layers {
		diff, err := v1.NewHash(l.DiffID)
		if err != nil {
			return nil, fmt.Errorf("committing %s: layer %q: %w", ref, l.DiffID, err)
		}
		blob, err := s.blobOfLayer(diff)
		if err != nil {
			return nil, fmt.Errorf("committing %s: %w", ref, err)
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, diff)
		m.Layers = append(m.Layers, blob)
	}
	cb, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	cd, err := s.putBytes(cb)
	if err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cb)), Digest: cd}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md, err := s.putBytes(mb)
	if err != nil {
		return nil, err
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(mb)), Digest: md}
	if err := s.updateIndex(func(idx *v1.IndexManifest) error { record(idx, desc); return nil }); err != nil {
		return nil, err
	}
	img, err := s.load(md)
	if err != nil {
		return nil, err
	}
	img.Ref = ref
	return img, nil
}

// putBytes stores b as a blob and returns its digest.
func (s *Store) putBytes(b []byte) (v1.Hash, error) {
	h := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
	return h, s.putBlob(h, bytesOpener(b), "blob "+h.String(), nil)
}

// blobOfLayer finds the descriptor of a stored blob whose content is the
// layer diff: the uncompressed blob of the same digest (AddLayer), or a
// compressed blob of an image that has the layer.
func (s *Store) blobOfLayer(diff v1.Hash) (v1.Descriptor, error) {
	if fi, err := os.Stat(s.blobPath(diff)); err == nil {
		return v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: fi.Size(), Digest: diff}, nil
	}
	idx, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range idx.Manifests {
		m, cfg, err := s.manifestOf(d.Digest)
		if err != nil {
			continue
		}
		for i, id := range cfg.RootFS.DiffIDs {
			if id == diff {
				return m.Layers[i], nil
			}
		}
	}
	return v1.Descriptor{}, fmt.Errorf("layer %s has no blob in the store (add it with AddLayer)", diff)
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
