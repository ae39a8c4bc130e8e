package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountFlags is what an OCI mount's options mean to mount(2): flags to set,
// flags to clear, and the rest as the filesystem's data string.
type mountFlags struct {
	set   uintptr
	clear uintptr
	data  string
}

func (f mountFlags) bind() bool { return f.set&unix.MS_BIND != 0 }

// mountOptions maps the OCI option words nook understands to flags. An
// option not in the table is passed to the filesystem as data
// ("mode=755", "newinstance", ...).
var mountOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"noatime":     {false, unix.MS_NOATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
}

// parseMountOptions splits OCI mount options into flags and data.
func parseMountOptions(options []string) mountFlags {
	var f mountFlags
	var data []string
	for _, o := range options {
		m, ok := mountOptions[o]
		switch {
		case !ok:
			data = append(data, o)
		case m.clear:
			f.set &^= m.flag
			f.clear |= m.flag
		default:
			f.set |= m.flag
			f.clear &^= m.flag
		}
	}
	f.data = strings.Join(data, ",")
	return f
}

// lockedFlags are the per-mount flags a user namespace may not clear from a
// mount it did not create; a read-only remount must repeat them.
var lockedFlags = []struct {
	statfs uint64
	mount  uintptr
}{
	{unix.ST_NOSUID, unix.MS_NOSUID},
	{unix.ST_NODEV, unix.MS_NODEV},
	{unix.ST_NOEXEC, unix.MS_NOEXEC},
	{unix.ST_NOATIME, unix.MS_NOATIME},
	{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
	{unix.ST_RELATIME, unix.MS_RELATIME},
}

// remountBind applies flags to the bind mount at path, keeping the flags
// the kernel locked on it.
func remountBind(path string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	for _, l := range lockedFlags {
		if uint64(st.Flags)&l.statfs != 0 {
			flags |= l.mount
		}
	}
	if err := unix.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remounting %s: %w", path, err)
	}
	return nil
}

// rootfs builds a sandbox's root file system under dir, a fresh tmpfs, in
// the init stage's private mount namespace.
type rootfs struct {
	dir     string
	sources map[int]*os.File // bind sources opened before the host's /tmp was covered
}

// openSources opens every bind mount's source as an O_PATH descriptor, so
// binds work whatever is later mounted over the host path, and symlinks in
// a source resolve in the host's view. The caller closes them.
func openSources(mounts []specs.Mount) (map[int]*os.File, error) {
	files := make(map[int]*os.File)
	for i, m := range mounts {
		if !parseMountOptions(m.Options).bind() {
			continue
		}
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("opening bind source %s for %s: %w", m.Source, m.Destination, err)
		}
		files[i] = os.NewFile(uintptr(fd), m.Source)
	}
	return files, nil
}

func closeAll(files map[int]*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// path resolves p, a path inside the sandbox, to a path under r.dir that
// does not escape it through symlinks.
func (r *rootfs) path(p string) (string, error) {
	return securejoin.SecureJoin(r.dir, p)
}

// mountPoint creates the file or directory a mount lands on.
func mountPoint(path string, dir bool) error {
	if dir {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// mount performs the i'th mount of the plan.
func (r *rootfs) mount(i int, m specs.Mount) error {
	if isOverlayRoot(m) {
		return nil // mounted as the root before any other mount
	}
	dest, err := r.path(m.Destination)
	if err != nil {
		return err
	}
	f := parseMountOptions(m.Options)
	if !f.bind() {
		if err := mountPoint(dest, true); err != nil {
			return fmt.Errorf("creating mount point %s: %w", m.Destination, err)
		}
		typ := m.Type
		if err := unix.Mount(m.Source, dest, typ, f.set, f.data); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", typ, m.Destination, err)
		}
		return nil
	}
	src := r.sources[i]
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", m.Source, err)
	}
	if err := mountPoint(dest, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
		return fmt.Errorf("creating mount point %s: %w", m.Destination, err)
	}
	procPath := fmt.Sprintf("/proc/self/fd/%d", src.Fd())
	if err := unix.Mount(procPath, dest, "", f.set&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return fmt.Errorf("binding %s on %s: %w", m.Source, m.Destination, err)
	}
	if rest := f.set &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
		if err := remountBind(dest, rest); err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
	}
	return nil
}

// mask hides path: a read-only empty tmpfs over a directory, the sandbox's
// /dev/null over anything else. A path that does not exist is left alone.
func (r *rootfs) mask(p string) error {
	path, err := r.path(p)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("masking %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=555")
	} else {
		var null string
		if null, err = r.path("/dev/null"); err == nil {
			err = unix.Mount(null, path, "", unix.MS_BIND, "")
		}
	}
	if err != nil {
		return fmt.Errorf("masking %s: %w", p, err)
	}
	return nil
}

// readonly makes path, and what is mounted below it, read-only.
func (r *rootfs) readonly(p string) error {
	path, err := r.path(p)
	if err != nil {
		return err
	}
	if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("making %s read-only: %w", p, err)
	}
	return remountBind(path, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
}

// symlink creates link at p pointing to target.
func (r *rootfs) symlink(s Symlink) error {
	path, err := r.path(s.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating symlink %s: %w", s.Path, err)
	}
	if err := os.Symlink(s.Target, path); err != nil {
		return fmt.Errorf("creating symlink %s: %w", s.Path, err)
	}
	return nil
}

// file writes f into staging (a directory outside the new root) and binds
// it read-only at its path in the new root.
func (r *rootfs) file(staging string, i int, f File) error {
	tmp := filepath.Join(staging, fmt.Sprint(i))
	if err := os.WriteFile(tmp, f.Data, os.FileMode(f.Mode)); err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	if err := os.Chmod(tmp, os.FileMode(f.Mode)); err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	path, err := r.path(f.Path)
	if err != nil {
		return err
	}
	if err := mountPoint(path, false); err != nil {
		return fmt.Errorf("creating mount point %s: %w", f.Path, err)
	}
	if err := unix.Mount(tmp, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s: %w", f.Path, err)
	}
	return remountBind(path, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
}
