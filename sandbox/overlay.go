package sandbox

import (
	"errors"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// An image root is the plan's mount of Type "overlay" at Destination "/",
// which must be the plan's first mount. Its options are overlayfs's:
// "lowerdir=TOP:...:BASE" (top-most layer first), "upperdir=DIR" and
// "workdir=DIR", plus flags ("nosuid", "nodev") and data ("userxattr") as
// for other mounts. Without upperdir and workdir the root is ephemeral: the
// init stage puts the upper and work dirs on a tmpfs of its own, so the
// root is writable and its changes vanish with the sandbox. (An OCI runtime
// would mount such an overlay read-only.)
//
// The init stage mounts the overlay inside the sandbox's user namespace,
// so it needs "userxattr" (Linux 5.11 or later), and the upper and work
// dirs must belong to the app's uid, the only one mapped. It opens the
// directories before it covers the host's /tmp, names them by one-character
// symlinks to their descriptors (so that the option string stays far below
// the kernel's one-page limit however many layers there are), and first
// creates in the upper dir the top-level directories that mounts land in
// (overlayOptions.dirs; initstage.c, op_overlay).

// isOverlayRoot reports whether m is an image root.
func isOverlayRoot(m specs.Mount) bool { return m.Destination == "/" && m.Type == "overlay" }

// overlayOptions are an image root's overlayfs options.
type overlayOptions struct {
	lower       []string // top-most first
	upper, work string   // both "" for an ephemeral root
	flags       mountFlags
}

func parseOverlay(m specs.Mount) (*overlayOptions, error) {
	o := &overlayOptions{}
	var rest []string
	for _, opt := range m.Options {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "lowerdir":
			o.lower = append(o.lower, strings.Split(v, ":")...)
		case "upperdir":
			o.upper = v
		case "workdir":
			o.work = v
		default:
			rest = append(rest, opt)
		}
	}
	if len(o.lower) == 0 {
		return nil, errors.New("the overlay on / has no lowerdir")
	}
	if (o.upper == "") != (o.work == "") {
		return nil, errors.New("the overlay on / needs both upperdir and workdir, or neither")
	}
	o.flags = parseMountOptions(rest)
	return o, nil
}

// dirs are the top-level directories that hold mount points or files of
// the plan (etc for /etc/passwd, say): init creates them in the upper dir
// before mounting the overlay.
func (o *overlayOptions) dirs(p *Plan) []string {
	var dirs []string
	seen := map[string]bool{}
	top := func(path string) {
		first, rest, _ := strings.Cut(strings.TrimPrefix(filepath.Clean(path), "/"), "/")
		if rest != "" && first != ".." && !seen[first] {
			seen[first] = true
			dirs = append(dirs, first)
		}
	}
	for _, m := range p.Spec.Mounts[1:] {
		top(m.Destination)
	}
	for _, f := range p.Files {
		top(f.Path)
	}
	return dirs
}
