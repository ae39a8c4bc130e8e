// Package bootstrap makes Debian base images from Debian's packages with
// debootstrap, stored as one layer.
//
// debootstrap needs real root: it creates files of many owners, device
// nodes and chroots into the new tree to configure packages. Bootstrap
// refuses to run otherwise, with ErrNeedsRoot.
package bootstrap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/nook-sandbox/nook/image"
)

// ErrNeedsRoot is returned by Bootstrap when not run as root.
var ErrNeedsRoot = errors.New("debootstrap needs root")

// DefaultMirror is used when the host's apt sources name no Debian mirror.
const DefaultMirror = "http://deb.debian.org/debian"

// Options say how to bootstrap.
type Options struct {
	// Mirror is the Debian archive URL; "" means the one the host's apt
	// sources use (HostMirror), else DefaultMirror.
	Mirror string
	// Variant is debootstrap's --variant; "" means "minbase".
	Variant string
	// CacheDir, when not "", keeps the downloaded .deb files between runs
	// (debootstrap --cache-dir).
	CacheDir string
	// Log receives debootstrap's output; nil discards it.
	Log io.Writer
}

// Suite returns the Debian suite a reference names: "debian:bookworm" and
// "debian:12"-style tags are taken as they are, and must be a suite
// debootstrap has a script for (scriptsDir, usually
// /usr/share/debootstrap/scripts).
func Suite(ref, scriptsDir string) (string, error) {
	name, tag, ok := strings.Cut(ref, ":")
	if !ok || name != "debian" || tag == "" {
		return "", fmt.Errorf("%w: %q: bootstrap makes debian:SUITE images, as in debian:bookworm", image.ErrBadReference, ref)
	}
	if !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(tag) {
		return "", fmt.Errorf("%w: %q: %q is not a Debian suite name such as bookworm", image.ErrBadReference, ref, tag)
	}
	if _, err := os.Stat(filepath.Join(scriptsDir, tag)); err != nil {
		return "", fmt.Errorf("debootstrap does not know the suite %q (no %s); pick one listed there", tag, filepath.Join(scriptsDir, tag))
	}
	return tag, nil
}

// HostMirror returns the first Debian archive (not the security archive)
// the host's apt sources name, read from the one-line sources.list format
// and the deb822 *.sources format under etc ("/etc/apt" on a host); "" if
// there is none.
func HostMirror(aptDir string) string {
	files, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.sources"))
	lists, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.list"))
	files = append(append([]string{filepath.Join(aptDir, "sources.list")}, lists...), files...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, u := range sourceURIs(string(data)) {
			if isDebianArchive(u) {
				return strings.TrimRight(u, "/")
			}
		}
	}
	return ""
}

// sourceURIs lists the URIs of an apt sources file of either format, in
// order.
func sourceURIs(data string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "URIs:"); ok {
			out = append(out, strings.Fields(rest)...)
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "deb" {
			i := 1
			for i < len(f) && strings.HasPrefix(f[i], "[") { // [arch=amd64 signed-by=...]
				for i < len(f) && !strings.HasSuffix(f[i], "]") {
					i++
				}
				i++
			}
			if i < len(f) {
				out = append(out, f[i])
			}
		}
	}
	return out
}

// isDebianArchive reports whether u is an http(s) URL of a Debian package
// archive other than the security or ports archives.
func isDebianArchive(u string) bool {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") {
		return false
	}
	return strings.HasSuffix(strings.TrimRight(p.Path, "/"), "/debian")
}

// Bootstrap makes a Debian image of suite with debootstrap, stores it in st
// as one layer and tags it ref. The tree is built in st's temporary area
// and removed afterwards. The image's config sets PATH.
func Bootstrap(ctx context.Context, st *image.Store, ref, suite string, opt Options) (*image.Image, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("bootstrapping %s: %w (it creates files of many owners and device nodes); run 'sudo nook image bootstrap %s', or import an image made elsewhere with 'nook image import'", ref, ErrNeedsRoot, ref)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return nil, fmt.Errorf("bootstrapping %s: debootstrap is not installed; install it with 'apt-get install debootstrap'", ref)
	}
	mirror := opt.Mirror
	if mirror == "" {
		mirror = HostMirror("/etc/apt")
	}
	if mirror == "" {
		mirror = DefaultMirror
	}
	variant := opt.Variant
	if variant == "" {
		variant = "minbase"
	}
	tmp := filepath.Join(st.Root(), "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tmp, "bootstrap-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"--variant=" + variant}
	if opt.CacheDir != "" {
		if err := os.MkdirAll(opt.CacheDir, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "--cache-dir="+opt.CacheDir)
	}
	args = append(args, suite, dir, mirror)
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	var tail tailWriter
	cmd.Stdout, cmd.Stderr = io.MultiWriter(log, &tail), io.MultiWriter(log, &tail)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("debootstrap %s from %s: %w\n%s", suite, mirror, err, tail.String())
	}
	if err := tidy(dir); err != nil {
		return nil, fmt.Errorf("bootstrapping %s: %w", ref, err)
	}
	layer, err := addTree(st, dir)
	if err != nil {
		return nil, fmt.Errorf("bootstrapping %s: %w", ref, err)
	}
	return st.Commit(ref, []image.Layer{layer}, Config())
}

// Config is the runtime configuration of a bootstrapped image.
func Config() v1.Config {
	return v1.Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"/bin/bash"}}
}

// tidy removes from a fresh tree what does not belong in an image: device
// nodes (the sandbox makes its own /dev), downloaded packages and package
// lists, and debootstrap's leftovers. It makes sure the files a sandbox
// binds over exist.
func tidy(dir string) error {
	for _, glob := range []string{"dev/*", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "debootstrap", "var/log/bootstrap.log"} {
		matches, _ := filepath.Glob(filepath.Join(dir, glob))
		for _, m := range matches {
			if filepath.Base(m) == "lock" || filepath.Base(m) == "partial" {
				continue
			}
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	for _, f := range []string{"etc/resolv.conf", "etc/hosts", "etc/hostname"} {
		p := filepath.Join(dir, f)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
		} else if err == nil {
			// The host's copies debootstrap put there are not the image's.
			if err := os.Remove(p); err != nil {
				return err
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// addTree stores the tree at dir as one layer.
func addTree(st *image.Store, dir string) (image.Layer, error) {
	r, w := io.Pipe()
	go func() { w.CloseWithError(image.WriteLayerTar(w, dir)) }()
	l, err := st.AddLayer(r)
	r.CloseWithError(err)
	return l, err
}

// tailWriter keeps the last few KiB written to it, for error messages.
type tailWriter struct{ b []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string { return strings.TrimSpace(string(t.b)) }
