package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Event reports the progress of one layer of an import or pull.
type Event struct {
	Index, Count int    // layer Index (0-based) of Count
	Digest       string // the layer blob's digest
	Phase        string // "exists", "fetching", "unpacking", "done"
	Done, Total  int64  // bytes; Total is -1 when unknown
}

// Progress receives events, from several goroutines (one per layer being
// fetched) but never concurrently.
type Progress func(Event)

// source is an image to store: its raw config, its raw manifest (nil for
// docker save archives, whose layers are stored as uncompressed blobs under
// a new OCI manifest) and how to read each layer.
type source struct {
	config   []byte
	manifest []byte
	layers   []srcLayer
}

// srcLayer is one layer of a source. open returns the blob as the manifest
// names it; for a source without manifest, the uncompressed tar.
type srcLayer struct {
	size int64 // -1 when unknown
	open func() (io.ReadCloser, error)
}

// putImage stores src's blobs and unpacked layers and returns the
// descriptor of its stored manifest. Every blob and diff ID is verified
// (ErrDigest names the layer). Up to three layers are fetched at once.
func (s *Store) putImage(src source, progress Progress) (v1.Descriptor, error) {
	lk, err := s.writing()
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer lk.unlock()
	cfg, err := v1.ParseConfigFile(bytes.NewReader(src.config))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading image config: %w", err)
	}
	cfgDigest := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(src.config))}
	if len(src.layers) != len(cfg.RootFS.DiffIDs) {
		return v1.Descriptor{}, fmt.Errorf("image has %d layers but its config lists %d diff ids", len(src.layers), len(cfg.RootFS.DiffIDs))
	}
	uncompressed := src.manifest == nil
	var m *v1.Manifest
	if uncompressed {
		m = &v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
			Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(src.config)), Digest: cfgDigest},
			Layers: make([]v1.Descriptor, len(src.layers))}
		for i, d := range cfg.RootFS.DiffIDs {
			m.Layers[i] = v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: src.layers[i].size, Digest: d}
		}
	} else {
		if m, err = v1.ParseManifest(bytes.NewReader(src.manifest)); err != nil {
			return v1.Descriptor{}, fmt.Errorf("reading image manifest: %w", err)
		}
		if m.Config.Digest != cfgDigest {
			return v1.Descriptor{}, fmt.Errorf("image config: %w: content is %s, the manifest says %s", ErrDigest, cfgDigest, m.Config.Digest)
		}
		if len(m.Layers) != len(src.layers) {
			return v1.Descriptor{}, fmt.Errorf("manifest lists %d layers, image has %d", len(m.Layers), len(src.layers))
		}
	}

	var mu sync.Mutex
	report := func(e Event) {
		if progress != nil {
			mu.Lock()
			progress(e)
			mu.Unlock()
		}
	}
	errs := make([]error, len(src.layers))
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i := range src.layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = s.putLayer(src.layers[i], i, len(src.layers), &m.Layers[i], cfg.RootFS.DiffIDs[i], report)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return v1.Descriptor{}, err
		}
	}
	if err := s.putBlob(cfgDigest, bytesOpener(src.config), "image config", nil); err != nil {
		return v1.Descriptor{}, err
	}
	raw := src.manifest
	if uncompressed {
		if raw, err = json.Marshal(m); err != nil {
			return v1.Descriptor{}, err
		}
	}
	md, err := s.putBytes(raw)
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: md}, nil
}

// putLayer stores and unpacks layer i, described by desc (whose Size it
// fills in when it was unknown).
func (s *Store) putLayer(l srcLayer, i, n int, desc *v1.Descriptor, diff v1.Hash, report func(Event)) error {
	what := layerName(i, n, desc.Digest)
	ev := Event{Index: i, Count: n, Digest: desc.Digest.String(), Total: desc.Size}
	if exists(s.blobPath(desc.Digest)) && exists(s.layerDir(diff)) {
		ev.Phase, ev.Done = "exists", desc.Size
		report(ev)
	} else {
		ev.Phase = "fetching"
		report(ev)
		if err := s.putBlob(desc.Digest, l.open, what, func(done int64) { ev.Done = done; report(ev) }); err != nil {
			return err
		}
		ev.Phase, ev.Done = "unpacking", 0
		report(ev)
		if _, err := s.ensureLayer(desc.Digest, diff, what, nil); err != nil {
			return err
		}
		ev.Phase = "done"
		report(ev)
	}
	fi, err := os.Stat(s.blobPath(desc.Digest))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	desc.Size = fi.Size()
	return nil
}
