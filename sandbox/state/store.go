package state

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EnvDir names the environment variable that overrides the state
// directory (tests use it to keep their records apart).
const EnvDir = "NOOK_RUNTIME_DIR"

// DefaultDir returns where records live for a process of effective uid
// uid: $NOOK_RUNTIME_DIR when set; /run/nook for root;
// $XDG_RUNTIME_DIR/nook when that is an absolute path; /run/user/UID/nook
// when /run/user/UID exists and belongs to uid (a login session without
// XDG_RUNTIME_DIR in the environment, sudo -u say); otherwise
// /tmp/nook-UID, which Open refuses unless uid owns it and it is private.
// stat is os.Stat, or a fake in tests.
func DefaultDir(uid int, getenv func(string) string, stat func(string) (fs.FileInfo, error)) string {
	if d := getenv(EnvDir); d != "" {
		return d
	}
	if uid == 0 {
		return "/run/nook"
	}
	if d := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "nook")
	}
	run := "/run/user/" + strconv.Itoa(uid)
	if fi, err := stat(run); err == nil && fi.IsDir() && ownedBy(fi, uid) {
		return filepath.Join(run, "nook")
	}
	return "/tmp/nook-" + strconv.Itoa(uid)
}

func ownedBy(fi fs.FileInfo, uid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// Store is a state directory.
type Store struct {
	dir string
	// Cleanup, when not nil, releases what a stale record names (its
	// cgroup) before the record is removed. A record whose Cleanup fails
	// is kept, so a later call retries.
	Cleanup func(*Record) error
}

// Open returns the store in dir, creating dir (mode 0700) if needed. It
// refuses a directory that is a symlink, is not owned by the caller, or
// that others may write: records steer signals and cgroup removal.
func Open(dir string) (*Store, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("state directory %q is not an absolute path; set %s to one", dir, EnvDir)
	}
	// dir exists on every launch but the first: look before creating.
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("opening state directory: %w", err)
	}
	switch {
	case !fi.IsDir():
		return nil, fmt.Errorf("state directory %s is not a directory; remove it", dir)
	case !ownedBy(fi, os.Geteuid()):
		return nil, fmt.Errorf("state directory %s belongs to another user; remove it or set XDG_RUNTIME_DIR", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return nil, fmt.Errorf("state directory %s is writable by others; chmod 700 %s", dir, dir)
	}
	return &Store{dir: dir}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// RuntimeDir returns the directory for instance id's runtime files
// (sockets, scratch). It is not created here; Remove and collection
// delete it with the record.
func (s *Store) RuntimeDir(id string) string { return filepath.Join(s.dir, id) }

// lock takes the directory's lock, which serialises Create (the choice of
// ID and Seq) and with it the records' writes. The returned function
// releases it. Like write, it uses plain system calls, not an os.File
// (see readProc).
func (s *Store) lock() (func(), error) {
	path := filepath.Join(s.dir, ".lock")
	fd, err := openFile(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("locking state directory: %w", err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking state directory: %w", err)
	}
	return func() { unix.Close(fd) }, nil
}

// openFile opens path (mode 0600 if flags create it), as os.OpenFile
// would, errors included.
func openFile(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0o600)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// Create gives r a fresh ID (unless r.ID is set, from NewID) and the smallest Seq free among the live
// records of r.App, fills Schema, Name, Version and BootID, and writes it.
// The caller fills App, Launcher, Init, Started and the rest.
func (s *Store) Create(r *Record) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	l, err := s.Scan()
	if err != nil {
		return err
	}
	s.collect(l.Stale)
	used := map[int]bool{}
	ids := map[string]bool{}
	for _, o := range append(l.Live, l.Stale...) {
		ids[o.ID] = true
		if o.App == r.App {
			used[o.Seq] = true
		}
	}
	r.Seq = 1
	for used[r.Seq] {
		r.Seq++
	}
	switch {
	case r.ID != "" && !validID(r.ID):
		return fmt.Errorf("bad instance id %q (want 12 lowercase hex digits)", r.ID)
	case r.ID != "" && ids[r.ID]:
		return fmt.Errorf("instance id %s is already in use", r.ID)
	}
	for r.ID == "" || ids[r.ID] {
		if r.ID, err = NewID(); err != nil {
			return err
		}
	}
	r.Schema = Schema
	r.Name, r.Version = SplitApp(r.App)
	if r.BootID == "" {
		r.BootID = l.bootID
	}
	return s.write(r)
}

// NewID returns a random instance id: 12 lowercase hex digits. An id
// needs to be unique, not secret, so it comes from the getrandom system
// call directly: crypto/rand's first read sets up its generator, which
// cost every launch 0.05 ms, and so does unix.Getrandom's first (it maps
// and seeds the vDSO's per-thread state).
func NewID() (string, error) {
	var b [6]byte
	err := getrandom(b[:])  // up to 256 bytes come whole
	for err == unix.EINTR { // only while the kernel's pool is not ready
		err = getrandom(b[:])
	}
	if err != nil {
		return "", fmt.Errorf("making instance id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// getrandom fills b (at most 256 bytes) with the getrandom system call.
func getrandom(b []byte) error {
	_, _, e := unix.Syscall(unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0)
	if e != 0 {
		return e
	}
	return nil
}

func validID(id string) bool {
	if len(id) != 12 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// tmpPrefix starts the names of records being written; readers skip them.
const tmpPrefix = ".tmp-"

// write stores r as ID.json atomically: readers see the old file, no
// file, or the whole new one, never part of one. It does not fsync:
// records describe processes, which a crash of the machine ends anyway,
// and a record from an earlier boot is stale by its boot id. Syncing cost
// every launch 3.5 ms on an ext4 /run.
func (s *Store) write(r *Record) error {
	b, err := marshal(r)
	if err != nil {
		return err
	}
	// The temporary name holds the writer's pid (see tempAbandoned) and the
	// record's id, which no other record has: writes happen under the
	// lock, so nobody else writes this file, and what a dead writer left
	// under the name is overwritten.
	tmp := filepath.Join(s.dir, tmpPrefix+strconv.Itoa(os.Getpid())+"-"+r.ID)
	fd, err := openFile(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("writing state record: %w", err)
	}
	err = writeAll(fd, tmp, append(b, '\n'))
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &os.PathError{Op: "close", Path: tmp, Err: cerr}
	}
	if err == nil {
		dst := filepath.Join(s.dir, r.ID+".json")
		if rerr := unix.Rename(tmp, dst); rerr != nil {
			err = &os.LinkError{Op: "rename", Old: tmp, New: dst, Err: rerr}
		}
	}
	if err != nil {
		unix.Unlink(tmp)
		return fmt.Errorf("writing state record %s: %w", r.ID, err)
	}
	return nil
}

// writeAll writes b to fd, the file at path.
func writeAll(fd int, path string, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EINTR:
		case err != nil:
			return &os.PathError{Op: "write", Path: path, Err: err}
		case n == 0:
			return &os.PathError{Op: "write", Path: path, Err: io.ErrShortWrite}
		default:
			b = b[n:]
		}
	}
	return nil
}

// Remove deletes record id and its runtime directory. A record already gone
// is not an error.
func (s *Store) Remove(id string) error {
	if !validID(id) {
		return fmt.Errorf("bad instance id %q", id)
	}
	if err := os.RemoveAll(s.RuntimeDir(id)); err != nil {
		return fmt.Errorf("removing runtime files of %s: %w", id, err)
	}
	if err := os.Remove(filepath.Join(s.dir, id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing state record %s: %w", id, err)
	}
	return nil
}

// Listing is what Scan found.
type Listing struct {
	Live  []*Record // sorted by App, then Seq
	Stale []*Record
	// Bad are ID.json files that cannot be read as a record; Temp are
	// leftover temporary files of writers that are gone.
	Bad  []BadFile
	Temp []string

	bootID string // BootID() when scanned
}

// BadFile is a file in the state directory that is not a valid record.
type BadFile struct {
	Path string
	Err  error
}

func (b BadFile) Error() string { return fmt.Sprintf("%s: %v", b.Path, b.Err) }

// Scan reads the directory: one readdir, one read per record and one
// stat of /proc per launcher.
func (s *Store) Scan() (*Listing, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading state directory: %w", err)
	}
	boot := BootID()
	l := &Listing{bootID: boot}
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(s.dir, name)
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			if tempAbandoned(name) {
				l.Temp = append(l.Temp, path)
			}
			continue
		case !strings.HasSuffix(name, ".json") || !e.Type().IsRegular():
			continue
		}
		r, err := readRecord(path)
		if err != nil {
			l.Bad = append(l.Bad, BadFile{path, err})
			continue
		}
		if Stale(r, boot, ProcStartTime) {
			l.Stale = append(l.Stale, r)
		} else {
			l.Live = append(l.Live, r)
		}
	}
	sort.Slice(l.Live, func(i, j int) bool {
		a, b := l.Live[i], l.Live[j]
		if a.App != b.App {
			return a.App < b.App
		}
		return a.Seq < b.Seq
	})
	return l, nil
}

func readRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not a state record: %w", err)
	}
	if err := r.check(filepath.Base(path)); err != nil {
		return nil, err
	}
	return &r, nil
}

// tempAbandoned reports whether a temporary file's writer (its pid is in
// the name) is gone.
func tempAbandoned(name string) bool {
	pid, _, ok := strings.Cut(strings.TrimPrefix(name, tmpPrefix), "-")
	n, err := strconv.Atoi(pid)
	if !ok || err != nil || n < 1 {
		return true
	}
	return unix.Kill(n, 0) == unix.ESRCH
}

// Live returns the running sandboxes, collecting stale records on the way.
// Bad files are left for Gc and returned so the caller can mention them.
func (s *Store) Live() ([]*Record, []BadFile, error) {
	l, err := s.Scan()
	if err != nil {
		return nil, nil, err
	}
	s.collect(l.Stale)
	return l.Live, l.Bad, nil
}

// Collect removes stale records and what they name, and returns those it
// removed. It is cheap enough for every nook call: a readdir, a read and a
// stat per record.
func (s *Store) Collect() ([]*Record, error) {
	l, err := s.Scan()
	if err != nil {
		return nil, err
	}
	return s.collect(l.Stale)
}

// collect removes stale records after Cleanup and returns those removed.
func (s *Store) collect(stale []*Record) ([]*Record, error) {
	var errs []error
	var done []*Record
	for _, r := range stale {
		if s.Cleanup != nil {
			if err := s.Cleanup(r); err != nil {
				errs = append(errs, fmt.Errorf("cleaning up %s (%s): %w", r.ID, r.Ref(), err))
				continue
			}
		}
		if err := s.Remove(r.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, r)
	}
	return done, errors.Join(errs...)
}

// GcResult is what Gc removed.
type GcResult struct {
	Stale []*Record
	Bad   []BadFile
	Temp  []string
}

// Gc removes stale records (after Cleanup), files that are not valid
// records, and abandoned temporary files. Errors name each file it could
// not remove; the rest is removed regardless.
func (s *Store) Gc() (*GcResult, error) {
	l, err := s.Scan()
	if err != nil {
		return nil, err
	}
	res := &GcResult{}
	var err1 error
	res.Stale, err1 = s.collect(l.Stale)
	errs := []error{err1}
	for _, b := range l.Bad {
		if err := os.Remove(b.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		res.Bad = append(res.Bad, b)
	}
	for _, t := range l.Temp {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		res.Temp = append(res.Temp, t)
	}
	return res, errors.Join(errs...)
}

// Uptime is how long r has been running at now, rounded to seconds.
func (r *Record) Uptime(now time.Time) time.Duration {
	return now.Sub(r.Started).Round(time.Second)
}
