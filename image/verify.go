package image

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Verify checks the store and returns one line per problem (nil when it is
// sound): index.json parses; every blob's content matches its digest; every
// image's manifest, config and layer blobs exist; every unpacked layer
// exists and holds what its blob's tar says (each path with its type, and
// regular files with their size). A missing unpacked layer is reported but
// harmless: nook unpacks it on next use. The error is for failures to run
// the check at all.
func (s *Store) Verify() ([]string, error) {
	var problems []string
	report := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	idx, err := s.readIndex()
	if err != nil {
		return []string{err.Error()}, nil
	}
	ents, err := os.ReadDir(s.blobDir())
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		got, err := hashFile(s.blobPath(v1.Hash{Algorithm: "sha256", Hex: e.Name()}))
		if err != nil {
			report("blob sha256:%s: %v", e.Name(), err)
		} else if got != e.Name() {
			report("blob sha256:%s: content is sha256:%s (corrupt; remove it and pull or import the image again)", e.Name(), got)
		}
	}
	checked := map[string]bool{}
	for _, d := range idx.Manifests {
		name := d.Annotations[AnnotationRef]
		if name == "" {
			name = d.Digest.String()
		}
		m, cfg, err := s.manifestOf(d.Digest)
		if err != nil {
			report("image %s: %v", name, err)
			continue
		}
		for i, l := range m.Layers {
			diff := cfg.RootFS.DiffIDs[i]
			what := fmt.Sprintf("image %s %s", name, layerName(i, len(m.Layers), l.Digest))
			if !exists(s.blobPath(l.Digest)) {
				report("%s: blob missing", what)
				continue
			}
			if p := checkCompression(s.blobPath(l.Digest), string(l.MediaType)); p != "" {
				report("%s: %s", what, p)
			}
			if checked[diff.Hex] {
				continue
			}
			checked[diff.Hex] = true
			if !exists(s.layerDir(diff)) {
				report("%s: not unpacked (nook unpacks it on next use)", what)
				continue
			}
			for _, p := range s.verifyLayer(l.Digest, diff) {
				report("%s: %s", what, p)
			}
		}
	}
	return problems, nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

type wantEntry struct {
	typ  uint32 // S_IFMT bits
	size int64  // for regular files; -1 to skip
}

// verifyLayer compares an unpacked layer with its blob.
func (s *Store) verifyLayer(blob, diff v1.Hash) []string {
	f, err := os.Open(s.blobPath(blob))
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	rd, err := decompress(f)
	if err != nil {
		return []string{err.Error()}
	}
	defer rd.Close()
	want := map[string]wantEntry{}
	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return []string{fmt.Sprintf("reading blob: %v", err)}
		}
		rel := cleanName(hdr.Name)
		base := path.Base(rel)
		if strings.HasPrefix(base, whiteoutMeta) {
			continue
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			want[path.Join(path.Dir(rel), strings.TrimPrefix(base, whiteoutPrefix))] = wantEntry{typ: unix.S_IFCHR, size: -1}
			continue
		}
		var w wantEntry
		switch hdr.Typeflag {
		case tar.TypeDir:
			w = wantEntry{unix.S_IFDIR, -1}
		case tar.TypeReg, tar.TypeRegA:
			w = wantEntry{unix.S_IFREG, hdr.Size}
		case tar.TypeSymlink:
			w = wantEntry{unix.S_IFLNK, -1}
		case tar.TypeLink:
			t, ok := want[cleanName(hdr.Linkname)]
			if !ok {
				continue
			}
			w = t
		case tar.TypeFifo:
			w = wantEntry{unix.S_IFIFO, -1}
		case tar.TypeChar:
			if hdr.Devmajor != 0 || hdr.Devminor != 0 {
				continue
			}
			w = wantEntry{unix.S_IFCHR, -1}
		default:
			continue
		}
		if rel != "." {
			want[rel] = w
		}
	}
	root, err := unix.Open(s.layerDir(diff), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return []string{err.Error()}
	}
	defer unix.Close(root)
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	var problems []string
	for _, n := range names {
		w := want[n]
		st, err := statInRoot(root, n)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s missing from %s", n, s.layerDir(diff)))
		case st.Mode&unix.S_IFMT != w.typ:
			problems = append(problems, fmt.Sprintf("%s in %s has the wrong type", n, s.layerDir(diff)))
		case w.size >= 0 && st.Size != w.size:
			problems = append(problems, fmt.Sprintf("%s in %s is %d bytes, the blob says %d", n, s.layerDir(diff), st.Size, w.size))
		}
		if len(problems) >= 20 {
			problems = append(problems, "(more problems not shown)")
			break
		}
	}
	return problems
}

// statInRoot lstats rel inside root, resolving its parents as unpack does.
func statInRoot(root int, rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	dir, base := path.Dir(rel), path.Base(rel)
	fd := root
	if dir != "." {
		var err error
		fd, err = unix.Openat2(root, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveInRoot})
		if err != nil {
			return st, err
		}
		defer unix.Close(fd)
	}
	err := unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// checkCompression says what is wrong when a layer blob's compression
// differs from what its media type says ("" when it agrees).
func checkCompression(blob, mediaType string) string {
	f, err := os.Open(blob)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	magic := make([]byte, 4)
	io.ReadFull(f, magic)
	gz := magic[0] == 0x1f && magic[1] == 0x8b
	zst := string(magic) == "\x28\xb5\x2f\xfd"
	wantGz := strings.HasSuffix(mediaType, "gzip")
	wantZst := strings.HasSuffix(mediaType, "zstd")
	if gz != wantGz || zst != wantZst {
		return fmt.Sprintf("media type %s does not match the blob's compression", mediaType)
	}
	return ""
}
