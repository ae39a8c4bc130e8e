package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Entry is an index.json entry as Find needs it.
type Entry struct {
	// Digest is the manifest digest, "sha256:HEX".
	Digest string
	// Ref is the entry's AnnotationRef: a normalised tag, "" when untagged.
	Ref string
}

// Find returns the position in entries (index.json's manifests, in order)
// of the image ref names: a tag first, then a digest or a digest prefix of
// at least 6 hex digits (as `nook image ls` shows), and the normalised tag
// it was found by ("" when found by digest). Errors wrap ErrNotFound or
// ErrBadReference.
func Find(entries []Entry, ref string) (int, string, error) {
	var refErr error
	if r, err := ParseReference(ref); err == nil {
		if r.Digest != "" {
			if _, err := Hex(r.Digest); err != nil {
				return -1, "", fmt.Errorf("%w %q: %v", ErrBadReference, ref, err)
			}
			for i, e := range entries {
				if e.Digest == r.Digest {
					return i, "", nil
				}
			}
			return -1, "", fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		for i, e := range entries {
			if e.Ref == r.Name {
				return i, r.Name, nil
			}
		}
	} else {
		refErr = err
	}
	if isDigestPrefix(ref) {
		p := "sha256:" + strings.TrimPrefix(ref, "sha256:")
		var found []int
		for i, e := range entries {
			if strings.HasPrefix(e.Digest, p) && (len(found) == 0 || entries[found[0]].Digest != e.Digest) {
				found = append(found, i)
			}
		}
		if len(found) == 1 {
			return found[0], "", nil
		}
		if len(found) > 1 {
			return -1, "", fmt.Errorf("%w: %s matches %d images, give more digits", ErrBadReference, ref, len(found))
		}
	}
	if refErr != nil {
		return -1, "", refErr
	}
	return -1, "", fmt.Errorf("%w: %s (see nook image ls; get one with nook image pull or import)", ErrNotFound, ref)
}

// isDigestPrefix matches ^(sha256:)?[0-9a-f]{6,64}$.
func isDigestPrefix(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	return len(s) >= 6 && len(s) <= 64 && isHex(s)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Hex returns the hex of a sha256 digest, "sha256:HEX", the only kind the
// store names files by; anything else is an error.
func Hex(digest string) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 || !isHex(hex) {
		return "", fmt.Errorf("not a sha256 digest: %q", digest)
	}
	return hex, nil
}

// Image is a stored image as `nook run` needs it.
type Image struct {
	// Ref is the normalised tag the image was found by; "" when it was
	// found by digest.
	Ref string
	// Digest is the manifest digest, "sha256:...".
	Digest string
	// Layers are base first, in the manifest's order.
	Layers []Layer
	// Env and WorkingDir are the image config's.
	Env        []string
	WorkingDir string
}

// Layer is one layer of an image.
type Layer struct {
	// DiffID is the digest of the uncompressed layer tar, "sha256:...".
	DiffID string
	// Dir is the layer's directory, LayerDir of its diff ID.
	Dir string
}

// The parts of the OCI documents the reader reads.
type (
	index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	manifest struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	configFile struct {
		Config struct {
			Env        []string `json:"Env"`
			WorkingDir string   `json:"WorkingDir"`
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
)

// Entries reads index.json; a missing file is an empty index.
func (l Layout) Entries() ([]Entry, error) {
	b, err := os.ReadFile(l.IndexPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("reading image index %s: %w (run nook image verify)", l.IndexPath(), err)
	}
	out := make([]Entry, len(idx.Manifests))
	for i, m := range idx.Manifests {
		out[i] = Entry{Digest: m.Digest, Ref: m.Annotations[AnnotationRef]}
	}
	return out, nil
}

// Read finds the image ref names and its unpacked layers, reading only:
// it neither creates nor unpacks anything. When a layer's directory is
// missing it returns the image with an error wrapping ErrNotUnpacked
// (package image's Store.Resolve unpacks it). Other errors wrap
// ErrNotFound or ErrBadReference when that is why.
func (l Layout) Read(ref string) (*Image, error) {
	entries, err := l.Entries()
	if err != nil {
		return nil, err
	}
	i, tag, err := Find(entries, ref)
	if err != nil {
		return nil, err
	}
	img, err := l.readManifest(entries[i].Digest)
	if img != nil {
		img.Ref = tag
	}
	if err != nil {
		return img, fmt.Errorf("image %s: %w", ref, err)
	}
	return img, nil
}

func (l Layout) readManifest(digest string) (*Image, error) {
	var m manifest
	if err := l.readBlob("manifest", digest, &m); err != nil {
		return nil, err
	}
	var cfg configFile
	if err := l.readBlob("config", m.Config.Digest, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s has %d layers but its config %d diff ids", digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	img := &Image{Digest: digest, Env: cfg.Config.Env, WorkingDir: cfg.Config.WorkingDir}
	var missing error
	for i, diff := range cfg.RootFS.DiffIDs {
		hex, err := Hex(diff)
		if err != nil {
			return nil, fmt.Errorf("config %s: layer %d: %w", m.Config.Digest, i+1, err)
		}
		layer := Layer{DiffID: diff, Dir: l.LayerDir(hex)}
		if missing == nil {
			if _, err := os.Lstat(layer.Dir); err != nil {
				missing = fmt.Errorf("%w: layer %d/%d (%s)", ErrNotUnpacked, i+1, len(m.Layers), diff)
			}
		}
		img.Layers = append(img.Layers, layer)
	}
	return img, missing
}

// readBlob reads the JSON blob digest (what names it: "manifest",
// "config") into v.
func (l Layout) readBlob(what, digest string, v any) error {
	hex, err := Hex(digest)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	b, err := os.ReadFile(l.BlobPath(hex))
	if err != nil {
		return fmt.Errorf("%s %s: %w (run nook image verify)", what, digest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s %s: %w", what, digest, err)
	}
	return nil
}
