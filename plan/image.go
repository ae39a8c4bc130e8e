package plan

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/image/layout"
	"github.com/nook-sandbox/nook/profiles"
	"github.com/nook-sandbox/nook/sandbox"
)

// Image is an image a profile runs on, resolved from the store at the edge
// (cmd/nook); Compile only reads it.
type Image struct {
	// Ref is the reference the profile names, for messages.
	Ref string
	// Layers are the unpacked layer directories on the host, base first
	// (the OCI order). Compile reverses them for overlayfs.
	Layers []string
	// Env is the image config's environment ("KEY=VALUE"); the profile's
	// env and nook's identity variables win over it.
	Env []string
	// WorkingDir is the image config's working directory; "" means the
	// app's home.
	WorkingDir string
	// Digest is the image's manifest digest; "" when unknown.
	Digest string
}

// imageEtc are host files an image app on the host's network needs to
// resolve names; they are bound read-only when they exist on the host.
var imageEtc = []string{"/etc/resolv.conf", "/etc/hosts"}

// AppRoot is the host directory holding the persistent root (upper and work
// dirs) of app id on an image.
func (h *Host) AppRoot(id string) string { return filepath.Join(h.RootsDir, id) }

// imageRoot is the overlay mount that is an image app's root: the image's
// layers read-only, under an upper dir that persists (root = "persistent")
// or lives on a tmpfs (root = "ephemeral", the mount has no upperdir).
func imageRoot(p *profiles.Profile, h *Host) (specs.Mount, error) {
	img := h.Image
	if img == nil || img.Ref != p.Image {
		return specs.Mount{}, fmt.Errorf("%s: image %q was not resolved; nook resolves it before compiling", p.Source, p.Image)
	}
	if len(img.Layers) == 0 {
		return specs.Mount{}, fmt.Errorf("%s: image %q has no layers; rebuild or re-import it", p.Source, p.Image)
	}
	var upper, work string
	if p.Filesystem.Root != profiles.Ephemeral {
		if h.RootsDir == "" || !path.IsAbs(h.RootsDir) {
			return specs.Mount{}, errors.New("the directory for persistent app roots is unknown; set HOME or XDG_DATA_HOME")
		}
		root := h.AppRoot(p.ID())
		upper, work = path.Join(root, "upper"), path.Join(root, "work")
	}
	m, err := overlayMount(img.Layers, upper, work)
	if err != nil {
		return specs.Mount{}, fmt.Errorf("image %q: %w", p.Image, err)
	}
	return m, nil
}

// overlayMount is the overlay mount on "/" of layers (base first), with
// upper and work dirs, or none ("") for a root on a tmpfs.
func overlayMount(layers []string, upper, work string) (specs.Mount, error) {
	lower := make([]string, len(layers))
	for i, l := range layers {
		if !path.IsAbs(l) || strings.ContainsAny(l, ":,\n") {
			return specs.Mount{}, fmt.Errorf("layer directory %q is not an absolute path overlayfs can take", l)
		}
		lower[len(lower)-1-i] = l
	}
	opts := []string{"lowerdir=" + strings.Join(lower, ":")}
	if upper != "" {
		opts = append(opts, "upperdir="+upper, "workdir="+work)
	}
	opts = append(opts, "userxattr", "nosuid", "nodev")
	return specs.Mount{Destination: "/", Type: "overlay", Source: "overlay", Options: opts}, nil
}

// imageEnv applies the image config's environment to env: it sets every
// variable but the identity ones nook owns.
func imageEnv(img *Image, env map[string]string) {
	for _, kv := range img.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		switch k {
		case "HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR", "container":
			continue
		}
		env[k] = v
	}
}

// imageNetwork binds the host's resolver files for network = "host", or
// writes an /etc/hosts naming only the sandbox for network = "none".
func imageNetwork(p *profiles.Profile, h *Host, pl *sandbox.Plan) {
	if p.Network.Mode == profiles.NetworkNone {
		hosts := "127.0.0.1\tlocalhost " + p.Name + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		pl.Files = append(pl.Files, sandbox.File{Path: "/etc/hosts", Mode: 0o644, Data: []byte(hosts)})
		return
	}
	for _, f := range imageEtc {
		if h.Optional[f] {
			pl.Spec.Mounts = append(pl.Spec.Mounts, bind(f, f, "ro", "nosuid", "nodev", "noexec"))
		}
	}
}

// PrepareRoot creates the persistent upper and work dirs of app id on an
// image if they are missing, owned by the app's identity (the overlay is
// mounted in the app's user namespace, whose only uid is the app's), and
// returns the app's root directory.
func (h *Host) PrepareRoot(id string) (string, error) {
	dir := h.AppRoot(id)
	if err := os.MkdirAll(h.RootsDir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", h.RootsDir, err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "upper"), filepath.Join(dir, "work")} {
		// The upper dir is the sandbox's / and gets its mode.
		mode := os.FileMode(0o700)
		if filepath.Base(d) == "upper" {
			mode = 0o755
		}
		if err := os.Mkdir(d, mode); err != nil && !os.IsExist(err) {
			return "", fmt.Errorf("creating root for %s: %w", id, err)
		}
		if st, err := os.Lstat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("root for %s: %s is not a directory; remove it with 'nook reset %s'", id, d, id)
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(d, int(h.UID), int(h.GID)); err != nil {
				return "", fmt.Errorf("handing %s to uid %d: %w", d, h.UID, err)
			}
		}
	}
	return dir, nil
}

// probeImageEtc records which of the host's resolver files exist.
func probeImageEtc(h *Host) {
	for _, f := range imageEtc {
		if _, err := os.Stat(f); err == nil {
			h.Optional[f] = true
		}
	}
}

// ResolveImage finds the image of profile p in the store at storeRoot and
// records it in h for Compile. It does nothing for the host image. It only
// reads the store (package layout, standard library alone); when a layer
// is not unpacked it calls unpack with the image's reference, which is to
// unpack it (nook runs nook-image for that), and reads the store again. A
// nil unpack leaves the error.
func ResolveImage(h *Host, p *profiles.Profile, storeRoot string, unpack func(ref string) error) error {
	if p.Image == profiles.ImageHost {
		return nil
	}
	st := layout.Layout{Root: storeRoot}
	img, err := st.Read(p.Image)
	if errors.Is(err, layout.ErrNotUnpacked) && unpack != nil {
		if err := unpack(p.Image); err != nil {
			return fmt.Errorf("%s: image %s: unpacking its layers: %w", p.Source, p.Image, err)
		}
		img, err = st.Read(p.Image)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.Source, err)
	}
	h.Image = &Image{Ref: p.Image, Env: img.Env, WorkingDir: img.WorkingDir, Digest: img.Digest}
	for _, l := range img.Layers {
		h.Image.Layers = append(h.Image.Layers, l.Dir)
	}
	return nil
}

// ResetRoot removes the persistent root (upper and work dirs) of app id,
// and returns the directory it removed, or "" when there was none. The
// caller makes sure the app is not running. Directories the app made
// unwritable are made writable first, so a rootless user can remove what
// its apps wrote.
func (h *Host) ResetRoot(id string) (string, error) {
	if h.RootsDir == "" || id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return "", fmt.Errorf("no persistent root for %q", id)
	}
	dir := h.AppRoot(id)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	// Rename first, so a half-removed root is never used as an upper dir.
	trash := filepath.Join(h.RootsDir, ".removing-"+id)
	if err := os.Rename(dir, trash); err != nil {
		return "", fmt.Errorf("resetting the root of %s: %w", id, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		filepath.WalkDir(trash, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
		if err := os.RemoveAll(trash); err != nil {
			return "", fmt.Errorf("resetting the root of %s: %w", id, err)
		}
	}
	return dir, nil
}

// rootImageFile records, in an app's root directory, the digest of the
// image its upper dir was made on.
const rootImageFile = "image"

// CheckRootImage records the digest of h.Image in the persistent root of
// app id, and returns a warning when the root was made on another image:
// the app's old changes now lie over new layers. "" means nothing to say.
func (h *Host) CheckRootImage(id string) string {
	if h.Image == nil || h.Image.Digest == "" {
		return ""
	}
	f := filepath.Join(h.AppRoot(id), rootImageFile)
	old, err := os.ReadFile(f)
	if err == nil && string(old) == h.Image.Digest {
		return ""
	}
	os.WriteFile(f, []byte(h.Image.Digest), 0o644)
	if err != nil || len(old) == 0 {
		return ""
	}
	return fmt.Sprintf("the persistent root of %s was made on another image (%.19s, now %.19s): its changes lie over the new image; 'nook reset %s' starts afresh", id, old, h.Image.Digest, id)
}
