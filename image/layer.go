package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// ErrDigest: content does not match its digest (a corrupt or tampered
// archive, blob or download).
var ErrDigest = errors.New("digest mismatch")

// AddLayer stores r, an uncompressed layer tar with OCI whiteouts, as a blob
// and unpacks it, in one pass: the stream is written to a temporary blob,
// hashed and unpacked into a temporary directory at once, and both are
// renamed into place once the diff ID is known. A layer already in the
// store (same diff ID) keeps its directory and the new one is dropped. The
// blob is kept uncompressed: its digest is the diff ID.
func (s *Store) AddLayer(r io.Reader) (Layer, error) {
	lk, err := s.writing()
	if err != nil {
		return Layer{}, err
	}
	defer lk.unlock()
	work, release, err := s.privateTmp("add-")
	if err != nil {
		return Layer{}, fmt.Errorf("adding layer: %w", err)
	}
	defer release()
	blob, dir := filepath.Join(work, "blob"), filepath.Join(work, "layer")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return Layer{}, fmt.Errorf("adding layer: %w", err)
	}
	f, err := os.Create(blob)
	if err != nil {
		return Layer{}, fmt.Errorf("adding layer: %w", err)
	}
	h := sha256.New()
	tee := io.TeeReader(r, io.MultiWriter(f, h))
	_, err = unpack(tee, dir)
	if err == nil {
		_, err = io.Copy(io.Discard, tee) // padding after the end of the archive
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Layer{}, fmt.Errorf("adding layer: %w", err)
	}
	diff := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
	if err := s.putBlobFile(diff, blob); err != nil {
		return Layer{}, fmt.Errorf("adding layer %s: %w", diff, err)
	}
	l := Layer{DiffID: diff.String(), Dir: s.layerDir(diff)}
	llk, err := s.lockFile("layer-"+diff.Hex, true)
	if err != nil {
		return l, err
	}
	defer llk.unlock()
	if !exists(l.Dir) {
		if err := os.Rename(dir, l.Dir); err != nil {
			return l, fmt.Errorf("adding layer %s: %w", diff, err)
		}
		layersUnpacked.Add(1)
	}
	return l, nil
}

// privateTmp makes a directory tmp/PREFIX... that belongs to this call:
// its lock (locks/ of the same name) is held until release, which removes
// both. removeStaleTmp removes such directories whose lock nobody holds:
// they belong to killed processes.
func (s *Store) privateTmp(prefix string) (string, func(), error) {
	s.removeStaleTmp(prefix)
	// Lock first, then make the directory: a directory that exists
	// without its lock held belongs to a dead process.
	name := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), rand.Int64())
	lk, err := s.lockFile(name, true)
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(s.tmpDir(), name)
	release := func() {
		removeTree(dir)
		os.Remove(s.l.LockPath(name))
		lk.unlock()
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		release()
		return "", nil, err
	}
	return dir, release, nil
}

// removeStaleTmp removes the tmp/PREFIX* directories of killed processes
// (see privateTmp).
func (s *Store) removeStaleTmp(prefix string) {
	ents, _ := os.ReadDir(s.tmpDir())
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		lock := s.l.LockPath(e.Name())
		f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			removeTree(filepath.Join(s.tmpDir(), e.Name()))
			os.Remove(lock)
		}
		f.Close()
	}
}

// putBlobFile renames the file at tmp, whose digest is known to be d, into
// place unless the blob exists.
func (s *Store) putBlobFile(d v1.Hash, tmp string) error {
	lk, err := s.lockFile("blob-"+d.Hex, true)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if exists(s.blobPath(d)) {
		return nil
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.blobPath(d))
}

// putBlob stores what open yields as the blob want, unless it exists. open
// is called only once the blob's lock is held and the blob is still
// missing, so concurrent writers fetch it once. The content is verified: a
// mismatch is ErrDigest naming what. count, when not nil, is told the bytes
// copied so far.
func (s *Store) putBlob(want v1.Hash, open func() (io.ReadCloser, error), what string, count func(int64)) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("%s: unsupported digest algorithm %q", what, want.Algorithm)
	}
	if exists(s.blobPath(want)) {
		return nil
	}
	lk, err := s.lockFile("blob-"+want.Hex, true)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if exists(s.blobPath(want)) {
		return nil // another process stored it while we waited
	}
	s.removeStale("blob-" + want.Hex + "-")
	r, err := open()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer r.Close()
	f, err := os.CreateTemp(s.tmpDir(), "blob-"+want.Hex+"-")
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	var w io.Writer = io.MultiWriter(f, h)
	if count != nil {
		w = &countWriter{w: w, f: count}
	}
	_, err = io.CopyBuffer(w, r, make([]byte, 1<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("%s: %w: content is sha256:%s", what, ErrDigest, got)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), s.blobPath(want)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
	f func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.f(c.n)
	return n, err
}

// layersUnpacked counts the layers this process unpacked (tests check that
// concurrent writers unpack a layer once).
var layersUnpacked atomic.Int64

// ensureLayer unpacks the stored blob as the layer diffID unless it is
// unpacked already. The uncompressed content must hash to diffID.
func (s *Store) ensureLayer(blob, diffID v1.Hash, what string, count func(int64)) (Layer, error) {
	l := Layer{DiffID: diffID.String(), Dir: s.layerDir(diffID)}
	if exists(l.Dir) {
		return l, nil
	}
	lk, err := s.lockFile("layer-"+diffID.Hex, true)
	if err != nil {
		return l, err
	}
	defer lk.unlock()
	if exists(l.Dir) {
		return l, nil
	}
	s.removeStale("layer-" + diffID.Hex + "-")
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-"+diffID.Hex+"-")
	if err != nil {
		return l, fmt.Errorf("%s: %w", what, err)
	}
	// The layer's root is the image's "/" when no layer has a "./" entry.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return l, fmt.Errorf("%s: %w", what, err)
	}
	ok := false
	defer func() {
		if !ok {
			removeTree(tmp)
		}
	}()
	f, err := os.Open(s.blobPath(blob))
	if err != nil {
		return l, fmt.Errorf("%s: blob missing: %w", what, err)
	}
	defer f.Close()
	var src io.Reader = f
	if count != nil {
		src = &countReader{r: f, f: count}
	}
	rd, err := decompress(src)
	if err != nil {
		return l, fmt.Errorf("%s: %w", what, err)
	}
	defer rd.Close()
	h := sha256.New()
	tee := io.TeeReader(rd, h)
	if _, err := unpack(tee, tmp); err != nil {
		return l, fmt.Errorf("unpacking %s: %w", what, err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // padding after the end of the archive
		return l, fmt.Errorf("unpacking %s: %w", what, err)
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != diffID.Hex {
		return l, fmt.Errorf("%s: %w: uncompressed content is sha256:%s, the image says diff id %s", what, ErrDigest, got, diffID)
	}
	if err := os.Rename(tmp, l.Dir); err != nil {
		return l, fmt.Errorf("%s: %w", what, err)
	}
	ok = true
	layersUnpacked.Add(1)
	return l, nil
}

type countReader struct {
	r io.Reader
	n int64
	f func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.f(c.n)
	return n, err
}

// decompress returns a reader of r's content, gunzipped or un-zstd'ed when
// its magic number says so.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("corrupt gzip stream: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("corrupt zstd stream: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// removeStale removes what killed writers left in tmp/ under prefix. The
// caller holds the lock for that prefix's digest, so nobody else writes there.
func (s *Store) removeStale(prefix string) {
	ents, _ := os.ReadDir(s.tmpDir())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			removeTree(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
}

// removeTree removes path recursively, first making directories writable
// (unpacked layers may hold read-only directories the caller owns).
func removeTree(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}
