package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI image spec.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// unpackStats counts what unpack did not create as given.
type unpackStats struct {
	Entries int
	Skipped []string // device nodes and unknown entry types, by name
}

// unpack extracts the tar stream r into dir, an empty directory, as an
// overlayfs lower dir:
//
//   - Entry names are made relative to dir: a leading "/" and ".."
//     components cannot climb above dir (path.Clean("/"+name)).
//   - Parent directories are resolved with openat2 RESOLVE_IN_ROOT, so a
//     symlink in the layer (even "a -> /" or "a -> ../..") is followed as if
//     dir were "/": an entry written through it lands inside dir.
//   - The final component is never followed: an existing entry of that name
//     is removed and replaced, as tar does.
//   - Hard links are made with linkat relative to directories inside dir;
//     a target that is not in the layer is an error, never a host file.
//   - .wh.NAME becomes a char device 0/0 NAME, .wh..wh..opq sets
//     user.overlay.opaque=y on its directory (and trusted.overlay.opaque=y
//     when run as root); other .wh..wh.* entries are skipped.
//   - Device nodes other than whiteouts are skipped. setuid/setgid bits are
//     kept: every sandbox runs with no_new_privs, so they grant nothing.
//   - As real root, owners are the tar's uid/gid; otherwise everything belongs to
//     the caller. Extended attributes: only user.* (never user.overlay.*),
//     and security.capability as root.
//
// Directories' modes and times are set once all entries are written.
func unpack(r io.Reader, dir string) (unpackStats, error) {
	var st unpackStats
	rootFd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return st, fmt.Errorf("opening %s: %w", dir, err)
	}
	u := &unpacker{root: rootFd, asRoot: privileged(), cache: map[string]int{}, dirIdx: map[string]int{}, buf: make([]byte, 1<<20)}
	defer u.close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("reading tar after %d entries: %w", st.Entries, err)
		}
		st.Entries++
		skipped, err := u.entry(hdr, tr)
		if err != nil {
			return st, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
		if skipped {
			st.Skipped = append(st.Skipped, hdr.Name)
		}
	}
	return st, u.finishDirs()
}

type dirMeta struct {
	rel string
	hdr *tar.Header
}

type unpacker struct {
	root    int
	asRoot  bool
	cache   map[string]int // parent dir (relative) -> open fd
	retired []int          // fds dropped from the cache, closed before the next entry
	dirs    []dirMeta
	dirIdx  map[string]int // rel -> index in dirs
	buf     []byte
}

func (u *unpacker) close() {
	u.dropCache()
	u.closeRetired()
	unix.Close(u.root)
}

// dropCache forgets the cached directory fds. They stay open until the
// current entry is done (closeRetired), because the entry may hold some.
func (u *unpacker) dropCache() {
	for k, fd := range u.cache {
		u.retired = append(u.retired, fd)
		delete(u.cache, k)
	}
}

func (u *unpacker) closeRetired() {
	for _, fd := range u.retired {
		unix.Close(fd)
	}
	u.retired = u.retired[:0]
}

// addDir records a directory's metadata for finishDirs; the last entry for
// a path wins.
func (u *unpacker) addDir(rel string, hdr *tar.Header) {
	if i, ok := u.dirIdx[rel]; ok {
		u.dirs[i].hdr = hdr
		return
	}
	u.dirIdx[rel] = len(u.dirs)
	u.dirs = append(u.dirs, dirMeta{rel: rel, hdr: hdr})
}

// cleanName maps an entry name to a path relative to the layer root; "."
// is the root itself.
func cleanName(name string) string {
	p := path.Clean("/" + name)
	if p == "/" {
		return "."
	}
	return p[1:]
}

const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// dirFd returns an fd of the directory rel, resolved inside the layer. When
// create is set, missing directories are made (mode 0755, fixed later if
// the tar has an entry for them). The fd belongs to the cache.
func (u *unpacker) dirFd(rel string, create bool) (int, error) {
	if rel == "." {
		return u.root, nil
	}
	if fd, ok := u.cache[rel]; ok {
		return fd, nil
	}
	fd, err := unix.Openat2(u.root, rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveInRoot})
	if err == unix.ENOENT && create {
		pfd, perr := u.dirFd(path.Dir(rel), true)
		if perr != nil {
			return -1, perr
		}
		if err := unix.Mkdirat(pfd, path.Base(rel), 0o755); err != nil && err != unix.EEXIST {
			return -1, fmt.Errorf("making directory %s: %w", rel, err)
		}
		fd, err = unix.Openat2(u.root, rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveInRoot})
		if err == unix.ENOENT {
			return -1, fmt.Errorf("%s is a symlink to a directory that is not in the layer; refusing to write through it", rel)
		}
	}
	if err != nil {
		return -1, fmt.Errorf("opening directory %s in layer: %w", rel, err)
	}
	if len(u.cache) >= 64 {
		u.dropCache()
	}
	u.cache[rel] = fd
	return fd, nil
}

// removeAt removes name in dirfd, recursively for directories. It reports
// whether something was removed.
func (u *unpacker) removeAt(dirfd int, name string) (bool, error) {
	removed, err := removeAllAt(dirfd, name)
	if removed {
		u.dropCache() // a cached fd may be under what is gone
	}
	return removed, err
}

func removeAllAt(dirfd int, name string) (bool, error) {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil {
		return true, nil
	}
	if err == unix.ENOENT {
		return false, nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return false, err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err == nil {
		return true, nil
	} else if err != unix.ENOTEMPTY && err != unix.EEXIST {
		return false, err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return false, err
	}
	for _, n := range names {
		if _, err := removeAllAt(fd, n); err != nil {
			f.Close()
			return false, err
		}
	}
	f.Close()
	return true, unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// entry writes one tar entry. It reports whether the entry was skipped.
func (u *unpacker) entry(hdr *tar.Header, r io.Reader) (bool, error) {
	u.closeRetired()
	rel := cleanName(hdr.Name)
	if rel == "." {
		if hdr.Typeflag == tar.TypeDir {
			u.addDir(".", hdr)
		}
		return false, nil
	}
	parent, base := path.Dir(rel), path.Base(rel)
	pfd, err := u.dirFd(parent, true)
	if err != nil {
		return false, err
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(pfd, parent, base)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err := unix.Mkdirat(pfd, base, 0o700)
		if err == unix.EEXIST {
			var st unix.Stat_t
			if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return false, err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				if _, err := u.removeAt(pfd, base); err != nil {
					return false, err
				}
				err = unix.Mkdirat(pfd, base, 0o700)
			} else {
				err = nil
			}
		}
		if err != nil {
			return false, err
		}
		u.addDir(rel, hdr)
		return false, nil
	case tar.TypeReg, tar.TypeRegA:
		return false, u.file(pfd, base, hdr, r)
	case tar.TypeSymlink:
		if err := u.replace(pfd, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return false, err
		}
		return false, u.meta(pfd, base, -1, hdr, true)
	case tar.TypeLink:
		return false, u.hardlink(pfd, rel, hdr)
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
			return false, u.replace(pfd, base, func() error { return unix.Mknodat(pfd, base, unix.S_IFCHR, 0) })
		}
		return true, nil
	case tar.TypeFifo:
		if err := u.replace(pfd, base, func() error { return unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0) }); err != nil {
			return false, err
		}
		return false, u.meta(pfd, base, -1, hdr, false)
	default:
		return true, nil
	}
}

// replace runs create, and when the name exists removes it and runs create
// again.
func (u *unpacker) replace(pfd int, base string, create func() error) error {
	err := create()
	if err == unix.EEXIST {
		if _, err := u.removeAt(pfd, base); err != nil {
			return err
		}
		err = create()
	}
	return err
}

func (u *unpacker) whiteout(pfd int, parent, base string) (bool, error) {
	if base == whiteoutOpaque {
		return false, setOpaque(pfd, u.asRoot)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return true, nil // .wh..wh.plnk and friends: aufs bookkeeping
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return false, fmt.Errorf("bad whiteout name")
	}
	if _, err := u.removeAt(pfd, name); err != nil {
		return false, err
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return false, fmt.Errorf("making whiteout %s/%s (char device 0/0, needs Linux 5.8): %w", parent, name, err)
	}
	return false, nil
}

// setOpaque marks the directory fd opaque for overlayfs, in both
// namespaces when it can.
func setOpaque(fd int, asRoot bool) error {
	if asRoot {
		if err := unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("marking directory opaque (trusted.overlay.opaque): %w", err)
		}
	}
	if err := unix.Fsetxattr(fd, "user.overlay.opaque", []byte("y"), 0); err != nil {
		return fmt.Errorf("marking directory opaque (user.overlay.opaque; does the store's file system support user xattrs?): %w", err)
	}
	return nil
}

func (u *unpacker) file(pfd int, base string, hdr *tar.Header, r io.Reader) error {
	var fd int
	err := u.replace(pfd, base, func() error {
		var err error
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, r, u.buf); err != nil {
		return err
	}
	return u.meta(pfd, base, fd, hdr, false)
}

func (u *unpacker) hardlink(pfd int, rel string, hdr *tar.Header) error {
	target := cleanName(hdr.Linkname)
	if target == "." {
		return fmt.Errorf("hard link to the layer root")
	}
	if target == rel {
		return nil
	}
	tfd, err := u.dirFd(path.Dir(target), false)
	if err != nil {
		return fmt.Errorf("hard link target %q is not in the layer: %w", hdr.Linkname, err)
	}
	base := path.Base(rel)
	err = u.replace(pfd, base, func() error { return unix.Linkat(tfd, path.Base(target), pfd, base, 0) })
	if err != nil {
		return fmt.Errorf("hard link to %q: %w (the target must be an earlier entry of the same layer)", hdr.Linkname, err)
	}
	return nil
}

// meta sets owner, mode, xattrs and times. fd is the open file, or -1 to
// work by name; symlinks get owner and times only.
func (u *unpacker) meta(pfd int, base string, fd int, hdr *tar.Header, symlink bool) error {
	if u.asRoot {
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
		} else {
			err = unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if !symlink {
		mode := uint32(hdr.Mode) & 0o7777
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = unix.Fchmodat(pfd, base, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		if fd >= 0 {
			u.xattrs(fd, hdr)
		}
	}
	ts := []unix.Timespec{timespec(hdr.AccessTime, hdr.ModTime), timespec(hdr.ModTime, hdr.ModTime)}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

func timespec(t, fallback time.Time) unix.Timespec {
	if t.IsZero() {
		t = fallback
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// xattrs applies the entry's allowed extended attributes to fd; a file
// system that refuses them loses them silently.
func (u *unpacker) xattrs(fd int, hdr *tar.Header) {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || !allowedXattr(name, u.asRoot) {
			continue
		}
		_ = unix.Fsetxattr(fd, name, []byte(v), 0)
	}
}

// allowedXattr says which extended attributes of a layer are restored:
// user.* except overlayfs's own (an image must not forge whiteouts, opaque
// dirs or redirects), and file capabilities as root (no_new_privs makes
// them inert in a sandbox, but the image keeps them faithfully).
func allowedXattr(name string, asRoot bool) bool {
	switch {
	case strings.HasPrefix(name, "user.overlay."):
		return false
	case strings.HasPrefix(name, "user."):
		return true
	case name == "security.capability":
		return asRoot
	}
	return false
}

// finishDirs sets the deferred modes, owners and times of directories,
// deepest first. A directory later replaced by something else is skipped.
func (u *unpacker) finishDirs() error {
	u.dropCache()
	u.closeRetired()
	for i := len(u.dirs) - 1; i >= 0; i-- {
		d := u.dirs[i]
		fd := u.root
		if d.rel != "." {
			var err error
			fd, err = unix.Openat2(u.root, d.rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
			if err == unix.ENOENT || err == unix.ELOOP || err == unix.ENOTDIR {
				continue
			}
			if err != nil {
				return fmt.Errorf("directory %s: %w", d.rel, err)
			}
		}
		err := u.dirMeta(fd, d.hdr)
		if fd != u.root {
			unix.Close(fd)
		}
		if err != nil {
			return fmt.Errorf("directory %s: %w", d.rel, err)
		}
	}
	return nil
}

func (u *unpacker) dirMeta(fd int, hdr *tar.Header) error {
	if u.asRoot {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return err
	}
	u.xattrs(fd, hdr)
	ts := []unix.Timespec{timespec(hdr.AccessTime, hdr.ModTime), timespec(hdr.ModTime, hdr.ModTime)}
	return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
}
