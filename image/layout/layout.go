// Package layout is the on-disk layout of nook's image store, and a reader
// of it that needs nothing but the standard library: `nook run` finds an
// image's unpacked layers with it, without linking the store's writers
// (go-containerregistry, compression, registry access), whose package
// initialisation every launch would pay.
//
// Package image, which writes the store, takes its paths, its index
// annotations and its rules for finding an image by reference from here, so
// the layout has one definition. On disk, under the store's root:
//
//	oci/                     OCI image layout: oci-layout, index.json, blobs/sha256/HEX
//	layers/sha256/HEX/       a layer unpacked, keyed by the hex of its diff ID
//	tmp/                     temporary files and directories, renamed into place
//	locks/                   flock files
package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Sentinel errors, for errors.Is. Package image wraps the same values.
var (
	// ErrNotFound: no image has the reference.
	ErrNotFound = errors.New("image not found")
	// ErrBadReference: a string is not an image reference.
	ErrBadReference = errors.New("bad image reference")
	// ErrNotUnpacked: an image's layer has no unpacked directory (yet);
	// the store's Resolve unpacks it from its blob.
	ErrNotUnpacked = errors.New("layer not unpacked")
)

// Annotations on index.json entries.
const (
	// AnnotationRef names a tagged image, with its full normalised reference.
	AnnotationRef = "org.opencontainers.image.ref.name"
	// AnnotationCache keys a build-cache entry.
	AnnotationCache = "dev.nook.cache"
)

// Layout names the files of the store rooted at Root (an absolute path).
type Layout struct{ Root string }

// OCIDir is the OCI image layout: oci-layout, index.json, blobs/.
func (l Layout) OCIDir() string { return filepath.Join(l.Root, "oci") }

// LayoutFile is the OCI layout's version marker.
func (l Layout) LayoutFile() string { return filepath.Join(l.Root, "oci", "oci-layout") }

// IndexPath is index.json, the list of tagged, untagged and cached images.
func (l Layout) IndexPath() string { return filepath.Join(l.Root, "oci", "index.json") }

// BlobDir holds the blobs (manifests, configs, layers), named by the hex
// of their sha256 digest.
func (l Layout) BlobDir() string { return filepath.Join(l.Root, "oci", "blobs", "sha256") }

// BlobPath is the blob of sha256 digest hex.
func (l Layout) BlobPath(hex string) string { return filepath.Join(l.BlobDir(), hex) }

// LayersParent is the directory that holds layers/sha256.
func (l Layout) LayersParent() string { return filepath.Join(l.Root, "layers") }

// LayersDir holds the unpacked layers, named by the hex of their diff ID.
func (l Layout) LayersDir() string { return filepath.Join(l.Root, "layers", "sha256") }

// LayerDir is the unpacked layer of diff ID sha256:hex. It is complete when
// it exists.
func (l Layout) LayerDir(hex string) string { return filepath.Join(l.LayersDir(), hex) }

// TmpDir holds what writers make before they rename it into place.
func (l Layout) TmpDir() string { return filepath.Join(l.Root, "tmp") }

// LocksDir holds the flock files.
func (l Layout) LocksDir() string { return filepath.Join(l.Root, "locks") }

// LockPath is the flock file of name.
func (l Layout) LockPath(name string) string { return filepath.Join(l.LocksDir(), name) }

// DefaultRoot is the store used by nook: $NOOK_STORE when set (an absolute
// path), /var/lib/nook when run as real root, $XDG_DATA_HOME/nook (default
// ~/.local/share/nook) otherwise — also for uid 0 inside a user namespace.
func DefaultRoot() string {
	if d := os.Getenv("NOOK_STORE"); filepath.IsAbs(d) {
		return d
	}
	if Privileged() {
		return "/var/lib/nook"
	}
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "nook")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "/"
	}
	return filepath.Join(home, ".local", "share", "nook")
}

// Privileged says whether the process is root of the initial user
// namespace: it may chown to any uid and set trusted.* xattrs.
func Privileged() bool {
	if os.Geteuid() != 0 {
		return false
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}
