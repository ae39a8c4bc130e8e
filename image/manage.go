package image

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Summary describes a stored image for listings.
type Summary struct {
	Ref     string // normalised tag; "" for an untagged image
	Digest  string // manifest digest
	Created time.Time
	Layers  int
	Size    int64 // bytes of the config and layer blobs, as stored
}

// List returns the tagged and untagged images (not build-cache entries),
// sorted by reference.
func (s *Store) List() ([]Summary, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, d := range idx.Manifests {
		if d.Annotations[AnnotationCache] != "" {
			continue
		}
		sum := Summary{Ref: d.Annotations[AnnotationRef], Digest: d.Digest.String()}
		if m, cfg, err := s.manifestOf(d.Digest); err == nil {
			sum.Created, sum.Layers, sum.Size = cfg.Created.Time, len(m.Layers), m.Config.Size
			for _, l := range m.Layers {
				sum.Size += l.Size
			}
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Ref != out[j].Ref {
			return out[i].Ref < out[j].Ref
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}

// Info is everything the store knows about an image.
type Info struct {
	Ref      string        `json:"ref,omitempty"`
	Digest   string        `json:"digest"`
	Manifest v1.Manifest   `json:"manifest"`
	Config   v1.ConfigFile `json:"config"`
	Layers   []LayerInfo   `json:"layers"`
}

// LayerInfo describes one layer of an image.
type LayerInfo struct {
	DiffID   string `json:"diff_id"`
	Blob     string `json:"blob"`
	BlobSize int64  `json:"blob_size"`
	Dir      string `json:"dir"`
	Unpacked bool   `json:"unpacked"`
}

// Inspect describes the image ref without unpacking anything.
func (s *Store) Inspect(ref string) (*Info, error) {
	desc, tag, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	m, cfg, err := s.manifestOf(desc.Digest)
	if err != nil {
		return nil, err
	}
	info := &Info{Ref: tag, Digest: desc.Digest.String(), Manifest: *m, Config: *cfg}
	for i, l := range m.Layers {
		dir := s.layerDir(cfg.RootFS.DiffIDs[i])
		info.Layers = append(info.Layers, LayerInfo{DiffID: cfg.RootFS.DiffIDs[i].String(), Blob: l.Digest.String(), BlobSize: l.Size, Dir: dir, Unpacked: exists(dir)})
	}
	return info, nil
}

// Tag gives the image src the tag dst too, replacing what dst named.
func (s *Store) Tag(src, dst string) error {
	desc, _, err := s.lookup(src)
	if err != nil {
		return err
	}
	r, err := ParseReference(dst)
	if err != nil {
		return err
	}
	if _, ok := r.(name.Tag); !ok {
		return fmt.Errorf("%w: %s is a digest, a tag is needed", ErrBadReference, dst)
	}
	return s.updateIndex(func(idx *v1.IndexManifest) error {
		setTag(idx, r.Name(), desc)
		return nil
	})
}

// Remove removes a tag, or every tag of an image given by digest. Blobs and
// layers stay until Prune. It returns the references removed.
func (s *Store) Remove(ref string) ([]string, error) {
	desc, tag, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	var removed []string
	err = s.updateIndex(func(idx *v1.IndexManifest) error {
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			r := d.Annotations[AnnotationRef]
			if d.Annotations[AnnotationCache] == "" && ((tag != "" && r == tag) || (tag == "" && d.Digest == desc.Digest)) {
				if r == "" {
					r = d.Digest.String()
				}
				removed = append(removed, r)
				continue
			}
			kept = append(kept, d)
		}
		idx.Manifests = kept
		return nil
	})
	return removed, err
}

// PruneOptions tune Prune.
type PruneOptions struct {
	Cache bool // also drop build-cache entries
}

// Pruned reports what Prune removed.
type Pruned struct {
	Blobs, Layers int
	Bytes         int64
}

// Prune removes blobs and unpacked layers no index entry reaches, and
// whatever interrupted writers left in tmp/. It waits for running imports,
// pulls and builds of this store to finish and blocks new ones meanwhile.
// A running sandbox keeps using a removed layer until it exits (its overlay
// mount holds it).
func (s *Store) Prune(opt PruneOptions) (Pruned, error) {
	var p Pruned
	lk, err := s.lockFile("store", true)
	if err != nil {
		return p, err
	}
	defer lk.unlock()
	if opt.Cache {
		if err := s.updateIndex(func(idx *v1.IndexManifest) error {
			kept := idx.Manifests[:0]
			for _, d := range idx.Manifests {
				if d.Annotations[AnnotationCache] == "" {
					kept = append(kept, d)
				}
			}
			idx.Manifests = kept
			return nil
		}); err != nil {
			return p, err
		}
	}
	blobs, layers, err := s.reachable()
	if err != nil {
		return p, err
	}
	ents, err := os.ReadDir(s.blobDir())
	if err != nil {
		return p, err
	}
	for _, e := range ents {
		if blobs[e.Name()] {
			continue
		}
		path := filepath.Join(s.blobDir(), e.Name())
		p.Bytes += diskBytes(path)
		if err := os.Remove(path); err != nil {
			return p, fmt.Errorf("pruning: %w", err)
		}
		p.Blobs++
	}
	ldir := s.l.LayersDir()
	if ents, err = os.ReadDir(ldir); err != nil {
		return p, err
	}
	for _, e := range ents {
		if layers[e.Name()] {
			continue
		}
		path := filepath.Join(ldir, e.Name())
		p.Bytes += diskBytes(path)
		if err := removeTree(path); err != nil {
			return p, fmt.Errorf("pruning: %w", err)
		}
		p.Layers++
	}
	if ents, err = os.ReadDir(s.tmpDir()); err == nil {
		for _, e := range ents {
			path := filepath.Join(s.tmpDir(), e.Name())
			p.Bytes += diskBytes(path)
			removeTree(path)
		}
	}
	// Per-digest lock files: no writer runs while prune holds locks/store,
	// so none is held or waited on.
	if ents, err = os.ReadDir(s.l.LocksDir()); err == nil {
		for _, e := range ents {
			if n := e.Name(); strings.HasPrefix(n, "blob-") || strings.HasPrefix(n, "layer-") || strings.HasPrefix(n, "import-") {
				os.Remove(s.l.LockPath(n))
			}
		}
	}
	return p, nil
}

// reachable returns the hex digests of the blobs and unpacked layers that
// index entries reach. A manifest that cannot be read keeps only itself.
func (s *Store) reachable() (blobs, layers map[string]bool, err error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, nil, err
	}
	blobs, layers = map[string]bool{}, map[string]bool{}
	for _, d := range idx.Manifests {
		blobs[d.Digest.Hex] = true
		m, cfg, err := s.manifestOf(d.Digest)
		if err != nil {
			continue
		}
		blobs[m.Config.Digest.Hex] = true
		for i, l := range m.Layers {
			blobs[l.Digest.Hex] = true
			layers[cfg.RootFS.DiffIDs[i].Hex] = true
		}
	}
	return blobs, layers, nil
}

// diskBytes is the space path takes on disk (allocated blocks), counting
// each inode once.
func diskBytes(path string) int64 {
	var n int64
	seen := map[[2]uint64]bool{}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		key := [2]uint64{st.Dev, st.Ino}
		if !seen[key] {
			seen[key] = true
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}

// Usage is the disk use of a store, per image and in total.
type Usage struct {
	Images []ImageUsage
	// Total is what the store takes on disk (blobs, unpacked layers, tmp).
	Total int64
	// SumOfImages adds up every image's size: what the images would take
	// without sharing.
	SumOfImages int64
}

// ImageUsage is one image's disk use. A layer's bytes are its blob and its
// unpacked directory; Shared counts layers other images use too.
type ImageUsage struct {
	Ref, Digest          string
	Size, Shared, Unique int64
}

// DiskUsage measures the store.
func (s *Store) DiskUsage() (Usage, error) {
	var u Usage
	idx, err := s.readIndex()
	if err != nil {
		return u, err
	}
	// A layer costs its blob (keyed by blob digest) and its unpacked dir
	// (keyed by diff id): images share either part separately (the same
	// layer pulled compressed and imported uncompressed shares the dir).
	type img struct {
		ref, digest string
		parts       []string // keys of partBytes
	}
	var imgs []*img
	byDigest := map[string]*img{}
	users := map[string]map[string]bool{} // part -> manifest digests
	partBytes := map[string]int64{}
	use := func(im *img, key, path string) {
		if _, ok := partBytes[key]; !ok {
			partBytes[key] = diskBytes(path)
		}
		if users[key] == nil {
			users[key] = map[string]bool{}
		}
		if !users[key][im.digest] {
			users[key][im.digest] = true
			im.parts = append(im.parts, key)
		}
	}
	for _, d := range idx.Manifests {
		if d.Annotations[AnnotationCache] != "" {
			continue
		}
		if im := byDigest[d.Digest.String()]; im != nil {
			im.ref += ", " + d.Annotations[AnnotationRef]
			continue
		}
		m, cfg, err := s.manifestOf(d.Digest)
		if err != nil {
			return u, err
		}
		im := &img{ref: d.Annotations[AnnotationRef], digest: d.Digest.String()}
		byDigest[im.digest] = im
		for i, l := range m.Layers {
			use(im, "blob:"+l.Digest.Hex, s.blobPath(l.Digest))
			use(im, "dir:"+cfg.RootFS.DiffIDs[i].Hex, s.layerDir(cfg.RootFS.DiffIDs[i]))
		}
		imgs = append(imgs, im)
	}
	for _, im := range imgs {
		iu := ImageUsage{Ref: im.ref, Digest: im.digest}
		for _, k := range im.parts {
			b := partBytes[k]
			iu.Size += b
			if len(users[k]) > 1 {
				iu.Shared += b
			} else {
				iu.Unique += b
			}
		}
		u.SumOfImages += iu.Size
		u.Images = append(u.Images, iu)
	}
	sort.Slice(u.Images, func(i, j int) bool { return u.Images[i].Ref < u.Images[j].Ref })
	for _, d := range []string{s.l.OCIDir(), s.l.LayersParent(), s.tmpDir()} {
		u.Total += diskBytes(d)
	}
	return u, nil
}
