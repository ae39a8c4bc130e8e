package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Export formats.
const (
	FormatDocker = "docker" // `docker load` reads it: manifest.json + blobs
	FormatOCI    = "oci"    // OCI image layout as a tar (oci-archive)
)

// Export writes the image ref to file ("-" for standard output) as a
// docker save archive or an OCI archive. The file appears complete or not
// at all (written under a temporary name in its directory, then renamed).
// Layers are written as stored: uncompressed for images imported from
// docker archives or built, compressed as pulled otherwise; both formats
// allow either.
func (s *Store) Export(ref, file, format string) error {
	if format != FormatDocker && format != FormatOCI {
		return fmt.Errorf("export format %q: use %q or %q", format, FormatDocker, FormatOCI)
	}
	desc, tag, err := s.lookup(ref)
	if err != nil {
		return err
	}
	if file == "-" {
		return s.writeArchive(os.Stdout, desc, tag, format)
	}
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-")
	if err != nil {
		return fmt.Errorf("exporting %s: %w", ref, err)
	}
	defer os.Remove(f.Name())
	err = s.writeArchive(f, desc, tag, format)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("exporting %s to %s: %w", ref, file, err)
	}
	return nil
}

func (s *Store) writeArchive(w io.Writer, desc v1.Descriptor, tag, format string) error {
	m, _, err := s.manifestOf(desc.Digest)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	addBytes := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	blobName := func(d v1.Hash) string { return "blobs/sha256/" + d.Hex }
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	blobs := append([]v1.Hash{desc.Digest, m.Config.Digest}, layerDigests(m)...)
	seen := map[v1.Hash]bool{}
	for _, d := range blobs {
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := s.addBlob(tw, blobName(d), d); err != nil {
			return err
		}
	}
	if format == FormatDocker {
		entry := map[string]any{"Config": blobName(m.Config.Digest), "Layers": []string{}}
		var layers []string
		for _, d := range layerDigests(m) {
			layers = append(layers, blobName(d))
		}
		entry["Layers"] = layers
		if tag != "" {
			entry["RepoTags"] = []string{Familiar(tag)}
		}
		b, _ := json.Marshal([]any{entry})
		if err := addBytes("manifest.json", b); err != nil {
			return err
		}
	} else {
		d := desc
		if tag != "" {
			d.Annotations = map[string]string{AnnotationRef: tag, "io.containerd.image.name": tag}
		}
		idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{d}}
		b, _ := json.Marshal(idx)
		if err := addBytes("index.json", b); err != nil {
			return err
		}
		if err := addBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
			return err
		}
	}
	return tw.Close()
}

func layerDigests(m *v1.Manifest) []v1.Hash {
	var out []v1.Hash
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func (s *Store) addBlob(tw *tar.Writer, name string, d v1.Hash) error {
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return fmt.Errorf("blob %s: %w (run nook image verify)", d, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
