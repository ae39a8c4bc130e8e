// Package witness records the host files a launch's plan was compiled
// from, as what stat(2) said of each, so that a later launch can tell,
// without compiling again, that every input it would read is unchanged
// (sandbox/fastlaunch.c checks them).
//
// A fact must be taken before what it vouches for is read: a file changed
// after its fact was taken then no longer matches the fact at the next
// launch, which compiles anew. (A fact taken after the read could match a
// file whose content the plan never saw.) A file's change time moves with
// every write, rename and change of mode or owner, and the device and
// inode number tell a replaced file apart, so an unchanged fact means an
// unchanged file, for anyone who cannot set the clock.
package witness

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Log is the facts of one launch, in the order they were taken. A nil
// *Log records nothing; its methods still do what they say.
type Log struct {
	b []byte
}

// Stat is os.Stat, and records what it found.
func (l *Log) Stat(path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	l.record('s', path, fi, err)
	return fi, err
}

// Lstat is os.Lstat, and records what it found.
func (l *Log) Lstat(path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	l.record('l', path, fi, err)
	return fi, err
}

// ReadFile records what stat says of path, then reads it as os.ReadFile.
func (l *Log) ReadFile(path string) ([]byte, error) {
	l.Stat(path)
	return os.ReadFile(path)
}

// Bytes returns the facts, encoded one after another as nook_put_fact
// (sandbox/fastlaunch.h) encodes them: the op ('s' stat, 'l' lstat), the
// path as a uint32 length and its bytes, errno as a uint32 (0 when the
// call succeeded) and then dev, ino, mode, uid, gid, size, mtime seconds
// and nanoseconds, ctime seconds and nanoseconds as uint64s, all
// little-endian; for a directory, size and times are 0. The caller must
// not modify it.
func (l *Log) Bytes() []byte {
	if l == nil {
		return nil
	}
	return l.b
}

func (l *Log) record(op byte, path string, fi fs.FileInfo, err error) {
	if l != nil {
		l.b = Append(l.b, op, path, fi, err)
	}
}

// Append appends the fact that op on path gave fi or err, encoded as Bytes
// says. An error that is not a system call's is recorded as EIO, which
// stat never gives for a path that is there: the fact then never holds.
func Append(b []byte, op byte, path string, fi fs.FileInfo, err error) []byte {
	b = append(b, op)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(path)))
	b = append(b, path...)
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			errno = syscall.EIO
		}
		return binary.LittleEndian.AppendUint32(b, uint32(errno))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return binary.LittleEndian.AppendUint32(b, uint32(syscall.EIO))
	}
	b = binary.LittleEndian.AppendUint32(b, 0)
	v := []uint64{uint64(st.Dev), st.Ino, uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), uint64(st.Size),
		uint64(st.Mtim.Sec), uint64(st.Mtim.Nsec), uint64(st.Ctim.Sec), uint64(st.Ctim.Nsec)}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		// A plan depends on which directory is there, never on what it
		// holds (each file in it read has a fact of its own), and a
		// directory's times change whenever an entry does: an app's
		// home with every launch.
		clear(v[5:])
	}
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}
