package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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
// dirs must belong to the app's uid, the only one mapped.

// overlayRoot is an image root whose directories were opened before the
// host's /tmp was covered (layers or upper dirs may live there).
type overlayRoot struct {
	lower       []*os.File // top-most first
	upper, work *os.File   // both nil for an ephemeral root
	flags       mountFlags
	// dirs are the top-level directories that hold mount points or files
	// of the plan (etc for /etc/passwd, say).
	dirs []string
}

// isOverlayRoot reports whether m is an image root.
func isOverlayRoot(m specs.Mount) bool { return m.Destination == "/" && m.Type == "overlay" }

// openOverlay opens the directories of the plan's image root; it returns
// nil when the plan has none. The caller closes the result.
func openOverlay(p *message) (*overlayRoot, error) {
	mounts := p.Mounts
	for i, m := range mounts {
		if isOverlayRoot(m) && i != 0 {
			return nil, errors.New("the overlay on / must be the plan's first mount")
		}
	}
	if len(mounts) == 0 || !isOverlayRoot(mounts[0]) {
		return nil, nil
	}
	o := &overlayRoot{}
	var rest []string
	var upper, work string
	open := func(dir string) (*os.File, error) {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening overlay directory %s: %w", dir, err)
		}
		return os.NewFile(uintptr(fd), dir), nil
	}
	for _, opt := range mounts[0].Options {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "lowerdir":
			for _, dir := range strings.Split(v, ":") {
				f, err := open(dir)
				if err != nil {
					o.close()
					return nil, err
				}
				o.lower = append(o.lower, f)
			}
		case "upperdir":
			upper = v
		case "workdir":
			work = v
		default:
			rest = append(rest, opt)
		}
	}
	if len(o.lower) == 0 {
		return nil, errors.New("the overlay on / has no lowerdir")
	}
	if (upper == "") != (work == "") {
		o.close()
		return nil, errors.New("the overlay on / needs both upperdir and workdir, or neither")
	}
	if upper != "" {
		var err error
		if o.upper, err = open(upper); err == nil {
			o.work, err = open(work)
		}
		if err != nil {
			o.close()
			return nil, err
		}
	}
	o.flags = parseMountOptions(rest)
	seen := map[string]bool{}
	top := func(p string) {
		first, rest, _ := strings.Cut(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
		if rest != "" && first != ".." && !seen[first] {
			seen[first] = true
			o.dirs = append(o.dirs, first)
		}
	}
	for _, m := range mounts[1:] {
		top(m.Destination)
	}
	for _, f := range p.Files {
		top(f.Path)
	}
	return o, nil
}

// prepareUpper creates in the upper dir, before the overlay is mounted,
// each of o.dirs that the layers have as a directory (or not at all), owned
// by the init stage's uid and with the top-most layer's mode. Mount points
// are then created in it without copying up the layer's directory, which
// fails when the layer's owner is not mapped in the sandbox (a root-owned
// store: the app's uid is the only one mapped).
func (o *overlayRoot) prepareUpper(upper int) error {
	for _, d := range o.dirs {
		var st unix.Stat_t
		if err := unix.Fstatat(upper, d, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil || !errors.Is(err, unix.ENOENT) {
			continue // the upper has it already, or we cannot tell
		}
		// The top-most layer that has d decides: a whiteout hides the
		// layers below it; a file or symlink is left alone.
		mode := uint32(0o755)
		for _, l := range o.lower {
			if err := unix.Fstatat(int(l.Fd()), d, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				continue
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				mode = st.Mode & 0o7777
			case unix.S_IFCHR:
				if st.Rdev != 0 {
					mode = 0
				}
			default:
				mode = 0
			}
			break
		}
		if mode == 0 {
			continue
		}
		if err := unix.Mkdirat(upper, d, mode); err != nil {
			return fmt.Errorf("creating /%s in the upper dir: %w", d, err)
		}
		if err := unix.Fchmodat(upper, d, mode, 0); err != nil {
			return fmt.Errorf("creating /%s in the upper dir: %w", d, err)
		}
	}
	return nil
}

func (o *overlayRoot) close() {
	if o == nil {
		return
	}
	for _, f := range append(o.lower, o.upper, o.work) {
		if f != nil {
			f.Close()
		}
	}
}

// mount mounts the overlay on dir. scratch is a directory on a tmpfs only
// the init stage sees; the layers get one-character names there, so that
// the mount's option string stays far below the kernel's one-page limit
// however many layers the image has (overlayfs takes up to 500).
func (o *overlayRoot) mount(dir, scratch string) error {
	links := filepath.Join(scratch, "layers")
	if err := os.Mkdir(links, 0o700); err != nil {
		return fmt.Errorf("mounting image root: %w", err)
	}
	link := func(name string, f *os.File) error {
		return os.Symlink("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), filepath.Join(links, name))
	}
	names := make([]string, len(o.lower))
	for i, f := range o.lower {
		names[i] = strconv.Itoa(i)
		if err := link(names[i], f); err != nil {
			return fmt.Errorf("mounting image root: %w", err)
		}
	}
	data := "lowerdir=" + strings.Join(names, ":")
	if o.upper != nil {
		if err := o.prepareUpper(int(o.upper.Fd())); err != nil {
			return err
		}
		if err := link("u", o.upper); err != nil {
			return fmt.Errorf("mounting image root: %w", err)
		}
		if err := link("w", o.work); err != nil {
			return fmt.Errorf("mounting image root: %w", err)
		}
	} else {
		// Ephemeral: upper and work on a tmpfs that dies with the sandbox.
		eph := filepath.Join(links, "e")
		if err := os.Mkdir(eph, 0o700); err != nil {
			return fmt.Errorf("mounting image root: %w", err)
		}
		if err := unix.Mount("tmpfs", eph, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=700"); err != nil {
			return fmt.Errorf("mounting tmpfs for an ephemeral root: %w", err)
		}
		for _, d := range []string{"e/u", "e/w"} {
			if err := os.Mkdir(filepath.Join(links, d), 0o755); err != nil {
				return fmt.Errorf("mounting image root: %w", err)
			}
		}
		fd, err := unix.Open(filepath.Join(links, "e/u"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("mounting image root: %w", err)
		}
		err = o.prepareUpper(fd)
		unix.Close(fd)
		if err != nil {
			return err
		}
		if err := os.Symlink("e/u", filepath.Join(links, "u")); err != nil {
			return fmt.Errorf("mounting image root: %w", err)
		}
		if err := os.Symlink("e/w", filepath.Join(links, "w")); err != nil {
			return fmt.Errorf("mounting image root: %w", err)
		}
	}
	data += ",upperdir=u,workdir=w"
	if o.flags.data != "" {
		data += "," + o.flags.data
	}
	// overlayfs resolves relative directories against the working
	// directory of the mounting process. The old one may be hidden by the
	// scratch tmpfs: it is kept open, not named.
	wd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mounting image root: %w", err)
	}
	defer unix.Close(wd)
	if err := unix.Chdir(links); err != nil {
		return fmt.Errorf("mounting image root: %w", err)
	}
	err = unix.Mount("overlay", dir, "overlay", o.flags.set, data)
	if cerr := unix.Fchdir(wd); err == nil && cerr != nil {
		return fmt.Errorf("mounting image root: returning to the working directory: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("mounting overlay on / (%d layers): %w%s", len(o.lower), err, overlayHint(err))
	}
	return nil
}

// overlayHint says what to do about the errors overlayfs gives most.
func overlayHint(err error) string {
	switch {
	case errors.Is(err, unix.EINVAL):
		return " (overlayfs in a user namespace needs Linux 5.11 or later; the upper and work dirs must be on one file system that is not itself an overlay, see dmesg)"
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return " (the upper and work dirs must belong to the app's uid; 'nook reset' the app to recreate them)"
	case errors.Is(err, unix.ENODEV):
		return " (the kernel has no overlayfs; load it with 'modprobe overlay')"
	}
	return ""
}
