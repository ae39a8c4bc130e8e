// Package image is nook's layer store: an OCI image layout whose layers are
// also kept unpacked, one directory per diff ID, ready to be overlayfs lower
// dirs. The files and their names are package layout's (image/layout), which
// also reads the store for `nook run` without this package's dependencies.
//
// Every blob and every unpacked layer is written under tmp/ and renamed into
// place, so a name that exists is complete. Writers hold a shared lock on
// locks/store for their whole run and an exclusive per-digest lock while they
// produce a blob or a layer, so concurrent processes do each piece of work
// once; prune holds locks/store exclusively. index.json is rewritten
// atomically under locks/index.
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/nook-sandbox/nook/image/layout"
)

// Sentinel errors, for errors.Is.
var (
	// ErrNotFound: no image has the reference.
	ErrNotFound = layout.ErrNotFound
	// ErrBadReference: a string is not an image reference.
	ErrBadReference = layout.ErrBadReference
)

// Image is a stored image, resolved: its layers are unpacked.
type Image struct {
	// Ref is the normalised reference the image was found by
	// ("index.docker.io/library/debian:bookworm"); "" for untagged images.
	Ref string
	// Digest is the manifest digest, "sha256:...".
	Digest string
	// Layers are base first, in the manifest's order. An overlay mount wants
	// them reversed in lowerdir (top layer first).
	Layers []Layer
	// Config is the image's runtime configuration (Env, Cmd, Entrypoint,
	// WorkingDir, User).
	Config v1.Config
}

// Layer is one unpacked layer.
type Layer struct {
	// DiffID is the digest of the uncompressed layer tar, "sha256:...".
	DiffID string
	// Dir is the absolute path of the unpacked layer. It is complete when it
	// exists and is never modified afterwards: use it read-only, as an
	// overlayfs lower dir (whiteouts are char devices 0/0, opaque dirs carry
	// user.overlay.opaque=y, and trusted.overlay.opaque=y when unpacked by
	// root).
	Dir string
}

// Store is an open layer store. Its methods may be called from several
// goroutines and several processes at once.
type Store struct {
	root string
	l    layout.Layout
}

// DefaultRoot is the store used by nook: $NOOK_STORE when set (an absolute
// path), /var/lib/nook when run as real root, $XDG_DATA_HOME/nook (default
// ~/.local/share/nook) otherwise — also for uid 0 inside a user namespace.
func DefaultRoot() string { return layout.DefaultRoot() }

// Open opens the store at root, creating it if it does not exist. It is
// cheap: nothing is read until a method needs it.
func Open(root string) (*Store, error) {
	if !filepath.IsAbs(root) {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("opening image store %s: %w", root, err)
		}
		root = abs
	}
	s := &Store{root: root, l: layout.Layout{Root: root}}
	for _, d := range []string{s.blobDir(), s.l.LayersDir(), s.tmpDir(), s.l.LocksDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	layoutFile := s.l.LayoutFile()
	if _, err := os.Stat(layoutFile); errors.Is(err, os.ErrNotExist) {
		if err := writeFileAtomic(s.tmpDir(), layoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`+"\n")); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	return s, nil
}

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

func (s *Store) blobDir() string           { return s.l.BlobDir() }
func (s *Store) tmpDir() string            { return s.l.TmpDir() }
func (s *Store) indexPath() string         { return s.l.IndexPath() }
func (s *Store) blobPath(h v1.Hash) string { return s.l.BlobPath(h.Hex) }
func (s *Store) layerDir(diffID v1.Hash) string {
	return s.l.LayerDir(diffID.Hex)
}

// privileged says whether the process is root of the initial user
// namespace: it may chown to any uid and set trusted.* xattrs.
func privileged() bool { return layout.Privileged() }

// writeFileAtomic writes data to a temporary file in tmp and renames it to
// path.
func writeFileAtomic(tmp, path string, data []byte) error {
	f, err := os.CreateTemp(tmp, "file-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// shortDigest is the 12 hex digits that name an image or layer to people.
func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
