package seccomp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cacheFormat names what a cached program depends on besides the policy and
// libseccomp: bump it whenever package compiler's output for a given policy changes.
const cacheFormat = "nook-seccomp-bpf-v2"

// A Compiler compiles policies for [CompileCached]: libseccomp in this
// process (package compiler, which nook-image and the tests link) or in
// another (nook, which links no libseccomp, runs nook-image).
type Compiler struct {
	// Libseccomp is the version of the libseccomp that Compile runs,
	// "2.5.4": part of the cache key, since another libseccomp may compile
	// a policy differently.
	Libseccomp string
	// Compile returns the raw classic-BPF program of a policy that passed
	// [Validate].
	Compile func(*specs.LinuxSeccomp) ([]byte, error)
}

// CompileCached compiles s with c, with a cache in cacheDir, because
// libseccomp takes milliseconds to build a policy the size of [Default]
// (and nook takes one more to run nook-image for it) and launching must
// stay fast. A program is keyed by a SHA-256 of the encoded policy,
// c.Libseccomp, the architecture and nook's compiler version, and stored
// with a checksum: a file that fails it is compiled again, never
// installed.
//
// A filter read from the cache is trusted with the sandbox, so cacheDir must
// be writable by the caller alone: CompileCached creates it (mode 0700) if
// missing and refuses one not owned by the effective uid or writable by group
// or others, and entries not owned by the effective uid. Entries are written
// to a temporary file, synced and renamed into place, so readers never see a
// partial one; concurrent writers of one entry write the same bytes. Failing
// to store an entry is not an error (the program is returned); nothing is
// ever removed from cacheDir.
func CompileCached(s *specs.LinuxSeccomp, cacheDir string, c Compiler) ([]byte, error) {
	if err := Validate(s); err != nil {
		return nil, fmt.Errorf("compile seccomp policy: %w", err)
	}
	if c.Libseccomp == "" {
		return nil, errors.New("compile seccomp policy: the compiler's libseccomp version is unknown")
	}
	key := cacheKey(s, c.Libseccomp)
	if err := trustedDir(cacheDir); err != nil {
		return nil, fmt.Errorf("seccomp cache: %w", err)
	}
	path := filepath.Join(cacheDir, hex.EncodeToString(key[:])+".bpf")
	if prog, err := readEntry(path, key); err == nil {
		return prog, nil
	}
	prog, err := c.Compile(s)
	if err != nil {
		return nil, err
	}
	if err := checkProgram(prog); err != nil {
		return nil, fmt.Errorf("compile seccomp policy: %w", err)
	}
	_ = writeEntry(cacheDir, path, key, prog) // the cache is an optimisation
	return prog, nil
}

// cacheKey hashes "FORMAT\nGOARCH\nlibseccomp X.Y.Z\n" and policyBytes in
// one buffer. With fmt.Fprintf into the hash, a growing slice and
// io.ReadAll in readEntry, a cache hit took 0.155 ms of a launch; 0.101 ms
// without (medians of 400 runs).
func cacheKey(s *specs.LinuxSeccomp, libseccompVersion string) [sha256.Size]byte {
	b := make([]byte, 0, 16<<10) // the encoded Default policy takes 6 KiB
	b = append(b, cacheFormat+"\n"+runtime.GOARCH+"\nlibseccomp "...)
	b = append(b, libseccompVersion...)
	b = append(b, '\n')
	return sha256.Sum256(appendPolicy(b, s))
}

// policyBytes is an unambiguous encoding of every field of s (strings
// length-prefixed, optional numbers flagged): what the cache key hashes.
// It replaces encoding/json, whose reflection cost every launch 0.4 ms of
// CPU. TestPolicyBytesCoversSpec fails when runtime-spec adds a field.
func policyBytes(s *specs.LinuxSeccomp) []byte { return appendPolicy(nil, s) }

// appendPolicy appends policyBytes(s) to b.
func appendPolicy(b []byte, s *specs.LinuxSeccomp) []byte {
	str := func(v string) { b = binary.AppendUvarint(b, uint64(len(v))); b = append(b, v...) }
	num := func(v uint64) { b = binary.AppendUvarint(b, v) }
	opt := func(v *uint) {
		if v == nil {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		num(uint64(*v))
	}
	str(string(s.DefaultAction))
	opt(s.DefaultErrnoRet)
	num(uint64(len(s.Architectures)))
	for _, a := range s.Architectures {
		str(string(a))
	}
	num(uint64(len(s.Flags)))
	for _, f := range s.Flags {
		str(string(f))
	}
	str(s.ListenerPath)
	str(s.ListenerMetadata)
	num(uint64(len(s.Syscalls)))
	for _, sc := range s.Syscalls {
		num(uint64(len(sc.Names)))
		for _, n := range sc.Names {
			str(n)
		}
		str(string(sc.Action))
		opt(sc.ErrnoRet)
		num(uint64(len(sc.Args)))
		for _, a := range sc.Args {
			num(uint64(a.Index))
			num(a.Value)
			num(a.ValueTwo)
			str(string(a.Op))
		}
	}
	return b
}

// checksum is stored after the program: SHA-256 of key and program.
func checksum(key [sha256.Size]byte, prog []byte) []byte {
	h := sha256.New()
	h.Write(key[:])
	h.Write(prog)
	return h.Sum(nil)
}

// trustedDir creates dir (0700) if missing and checks that only the
// effective uid can write it. It stats dir first, as dir exists on every
// launch but the first.
func trustedDir(dir string) error {
	var st unix.Stat_t
	err := unix.Stat(dir, &st)
	if err == unix.ENOENT {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		err = unix.Stat(dir, &st)
	}
	if err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s is not a directory", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d, not by uid %d", dir, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%s is writable by group or others (mode %#o)", dir, st.Mode&0o777)
	}
	return nil
}

var errBadEntry = errors.New("bad cache entry")

// readEntry returns the program stored at path if the entry is a regular
// file of the effective uid and passes its checksum. It reads the file in
// one buffer of its size (io.ReadAll took nine reads; see cacheKey).
func readEntry(path string, key [sha256.Size]byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() || st.Size > sha256.Size+unix.BPF_MAXINSNS*sockFilterSize {
		return nil, errBadEntry
	}
	data := make([]byte, st.Size)
	for m := 0; m < len(data); {
		k, err := unix.Read(fd, data[m:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		case k == 0: // shrunk since Fstat
			return nil, errBadEntry
		}
		m += k
	}
	n := len(data) - sha256.Size
	if n <= 0 || n%sockFilterSize != 0 {
		return nil, errBadEntry
	}
	prog, sum := data[:n], data[n:]
	if !bytes.Equal(sum, checksum(key, prog)) {
		return nil, errBadEntry
	}
	return prog, nil
}

// writeEntry stores prog at path atomically.
func writeEntry(dir, path string, key [sha256.Size]byte, prog []byte) (err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*.bpf")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(bytes.Clone(prog), checksum(key, prog)...)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
