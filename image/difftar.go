package image

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// WriteLayerTar writes dir, an overlayfs upper directory, to w as an OCI
// layer tar: a char device 0/0 (an overlay whiteout) becomes .wh.NAME and a
// directory marked opaque (trusted.overlay.opaque=y or
// user.overlay.opaque=y) gets a .wh..wh..opq entry. Entries are in lexical
// order with mtimes, modes, owners and user.* xattrs kept (never the
// overlay.* ones) and access/change times left out, so the same tree makes
// the same tar. Hard links within dir stay hard links. Sockets are left out.
// The upper dir must come from a mount without redirect_dir or metacopy.
func WriteLayerTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*unix.Stat_t)
		if st == nil {
			var s unix.Stat_t
			if err := unix.Lstat(p, &s); err != nil {
				return err
			}
			st = &s
		}
		if info.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		if info.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 {
			dirPart, base := filepath.Split(rel)
			return tw.WriteHeader(&tar.Header{Name: dirPart + whiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: info.ModTime()})
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = int(st.Uid), int(st.Gid), "", ""
		hdr.AccessTime, hdr.ChangeTime = time0, time0
		addXattrs(hdr, p)
		if info.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		if info.IsDir() && isOpaque(p) {
			return tw.WriteHeader(&tar.Header{Name: rel + "/" + whiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: info.ModTime()})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing layer tar of %s: %w", dir, err)
	}
	return tw.Close()
}

var time0 = tar.Header{}.ModTime

func isOpaque(p string) bool {
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		buf := make([]byte, 8)
		n, err := unix.Lgetxattr(p, name, buf)
		if err == nil && string(buf[:n]) == "y" {
			return true
		}
	}
	return false
}

// addXattrs records p's user.* attributes (not overlayfs's) in hdr.
func addXattrs(hdr *tar.Header, p string) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !allowedXattr(name, false) {
			continue
		}
		val := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(val[:m])
		hdr.Format = tar.FormatPAX
	}
}
