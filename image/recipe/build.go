package recipe

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/nook-sandbox/nook/image"
	"github.com/nook-sandbox/nook/plan"
	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/seccomp/compiler"
)

// Options say how Build runs.
type Options struct {
	// Store is where the base image is found and the result goes.
	Store *image.Store
	// Stdout and Stderr receive progress lines and the steps' output; nil
	// means /dev/null.
	Stdout, Stderr *os.File
}

// Result is what Build did.
type Result struct {
	Image *image.Image
	// Ran and Cached count the steps run and the steps taken from the
	// build cache.
	Ran, Cached int
}

// cacheVersion changes when the meaning of a cached step changes.
const cacheVersion = "nook-build-v1"

// Build builds r into opt.Store and tags the result r.Tag.
//
// Steps are cached by a key of everything that decides their result: the
// base image's manifest digest, the recipe's env, and each step before and
// including this one (for copy, the file's content and mode). A step whose
// key is in the store's build cache is not run again.
//
// A run step runs as uid 0 in a build sandbox; see plan.BuildStep for what
// it can reach. Its container uid 0 is the host uid that owns the store (the
// invoking user, or root when nook runs as root).
func Build(r *Recipe, opt Options) (*Result, error) {
	st := opt.Store
	base, err := st.Resolve(r.From)
	if err != nil {
		return nil, fmt.Errorf("%s: from = %q: %w", r.Source, r.From, err)
	}
	cfg := base.Config
	cfg.Env = mergeEnv(cfg.Env, r.Env)
	layers := base.Layers
	key := hashOf(cacheVersion, base.Digest, strings.Join(sortedEnv(r.Env), "\n"))
	res := &Result{}
	logf := func(format string, args ...any) {
		if opt.Stdout != nil {
			fmt.Fprintf(opt.Stdout, format+"\n", args...)
		}
	}
	for i, step := range r.Steps {
		what, err := stepKey(r, step)
		if err != nil {
			return nil, err
		}
		key = hashOf(key, what)
		if img, err := st.LookupCache(key); err == nil {
			layers = img.Layers
			res.Cached++
			logf("step %d/%d: %s (cached)", i+1, len(r.Steps), step)
			continue
		} else if !errors.Is(err, image.ErrNotFound) {
			return nil, fmt.Errorf("build cache: %w", err)
		}
		logf("step %d/%d: %s", i+1, len(r.Steps), step)
		layer, err := runStep(r, step, layers, cfg, opt)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: step %d (%s): %w", r.Source, step.Line, i+1, step, err)
		}
		layers = append(append([]image.Layer{}, layers...), layer)
		if _, err := st.CommitCache(key, layers, cfg); err != nil {
			return nil, fmt.Errorf("build cache: %w", err)
		}
		res.Ran++
	}
	img, err := st.Commit(r.Tag, layers, cfg)
	if err != nil {
		return nil, fmt.Errorf("tagging %s: %w", r.Tag, err)
	}
	res.Image = img
	logf("built %s (%d layers; %d steps run, %d cached)", r.Tag, len(layers), res.Ran, res.Cached)
	return res, nil
}

// stepKey is what identifies a step's content for the cache.
func stepKey(r *Recipe, s Step) (string, error) {
	if s.Copy == nil {
		return "run\n" + s.Run, nil
	}
	src := filepath.Join(r.Dir, s.Copy.Src)
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("%s:%d: copy: %w", r.Source, s.Line, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s:%d: copy: %s is not a regular file", r.Source, s.Line, src)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("copy\n%s\n%o\n%x", s.Copy.Dst, fi.Mode().Perm(), h.Sum(nil)), nil
}

// runStep runs one step on layers and stores its changes as a new layer.
func runStep(r *Recipe, s Step, layers []image.Layer, cfg v1.Config, opt Options) (image.Layer, error) {
	st := opt.Store
	tmp := filepath.Join(st.Root(), "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return image.Layer{}, err
	}
	removeStale(tmp)
	dir, err := os.MkdirTemp(tmp, fmt.Sprintf("build-%d-", os.Getpid()))
	if err != nil {
		return image.Layer{}, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return image.Layer{}, err
	}
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return image.Layer{}, err
		}
	}
	if s.Copy != nil {
		err = copyInto(r, s.Copy, layers, upper)
	} else {
		err = runIn(s.Run, layers, upper, work, cfg, opt)
	}
	if err != nil {
		return image.Layer{}, err
	}
	// The step's uid 0 is the caller's uid on the host: in the layer, the
	// caller's files are root's.
	tarR, tarW := io.Pipe()
	go func() { tarW.CloseWithError(image.WriteLayerTar(tarW, upper)) }()
	pr, pw := io.Pipe()
	go toRoot(pw, tarR, os.Getuid(), os.Getgid())
	l, err := st.AddLayer(pr)
	pr.CloseWithError(err)
	tarR.CloseWithError(err)
	if err != nil {
		return image.Layer{}, fmt.Errorf("storing the step's layer: %w", err)
	}
	return l, nil
}

// runIn runs command with /bin/sh -c in a build sandbox.
func runIn(command string, layers []image.Layer, upper, work string, cfg v1.Config, opt Options) error {
	b := plan.BuildStep{
		Name:    "build",
		Upper:   upper,
		Work:    work,
		Args:    []string{"/bin/sh", "-c", command},
		Env:     cfg.Env,
		HostUID: uint32(os.Getuid()),
		HostGID: uint32(os.Getgid()),
	}
	for _, l := range layers {
		b.Layers = append(b.Layers, l.Dir)
	}
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
		if _, err := os.Stat(f); err == nil {
			b.Resolver = append(b.Resolver, f)
		}
	}
	pl, err := plan.CompileBuildStep(b)
	if err != nil {
		return err
	}
	filter, err := compiler.Compile(pl.Spec.Linux.Seccomp)
	if err != nil {
		return fmt.Errorf("compiling the build sandbox's seccomp filter: %w", err)
	}
	code, err := sandbox.Run(pl, sandbox.Options{Filter: filter, Stdio: sandbox.Stdio{Out: opt.Stdout, Err: opt.Stderr}})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit status %d", code)
	}
	return nil
}

// copyInto writes the copy's source file into upper at its destination.
// Missing parent directories take the mode and owner of the top-most layer
// that has them (0755, the caller's, when none does).
func copyInto(r *Recipe, c *Copy, layers []image.Layer, upper string) error {
	parts := strings.Split(strings.TrimPrefix(filepath.Dir(c.Dst), "/"), "/")
	rel := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		rel = filepath.Join(rel, p)
		mode, uid, gid := os.FileMode(0o755), -1, -1
		for i := len(layers) - 1; i >= 0; i-- {
			fi, err := os.Lstat(filepath.Join(layers[i].Dir, rel))
			if err != nil {
				continue
			}
			if !fi.IsDir() {
				return fmt.Errorf("copy: %s is not a directory in the image", "/"+rel)
			}
			mode = fi.Mode() & (os.ModePerm | os.ModeSticky | os.ModeSetgid)
			uid, gid = ownerOf(fi)
			break
		}
		d := filepath.Join(upper, rel)
		if err := os.Mkdir(d, mode.Perm()); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if err := os.Chmod(d, mode); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if uid >= 0 && os.Geteuid() == 0 {
			if err := os.Lchown(d, uid, gid); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		}
	}
	src := filepath.Join(r.Dir, c.Src)
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	dst := filepath.Join(upper, c.Dst)
	if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if os.Geteuid() == 0 {
		return os.Lchown(dst, 0, 0) // root-owned in the image
	}
	return nil
}

// mergeEnv sets the recipe's variables over the image's "KEY=VALUE" list,
// keeping the image's order and appending new ones sorted.
func mergeEnv(base []string, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env))
	seen := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := env[k]; ok {
			kv = k + "=" + v
			seen[k] = true
		}
		out = append(out, kv)
	}
	for _, kv := range sortedEnv(env) {
		if k, _, _ := strings.Cut(kv, "="); !seen[k] {
			out = append(out, kv)
		}
	}
	return out
}

func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ownerOf returns the uid and gid of fi, or -1, -1 when unknown.
func ownerOf(fi os.FileInfo) (int, int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// removeStale removes the step directories of builds whose process is
// gone (killed mid-step), named build-PID-* in the store's tmp directory.
// A killed build's sandbox dies a moment after its launcher (the kernel
// kills init, then init's namespace), and until then its step may still
// write into the directory: a removal that fails is tried again for up to
// a second, and what is left after that is left for the next build.
func removeStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "build-*-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(d), "-")[1])
		if err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !os.IsNotExist(err) {
			continue
		}
		for try := 0; os.RemoveAll(d) != nil && try < 50; try++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// toRoot copies the tar stream r to w with the owner uid:gid of every
// entry changed to 0:0 (other owners are kept), and closes w.
func toRoot(w *io.PipeWriter, r io.Reader, uid, gid int) {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			w.CloseWithError(tw.Close())
			return
		}
		if err != nil {
			w.CloseWithError(err)
			return
		}
		if hdr.Uid == uid {
			hdr.Uid = 0
		}
		if hdr.Gid == gid {
			hdr.Gid = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			w.CloseWithError(err)
			return
		}
		if _, err := io.Copy(tw, tr); err != nil {
			w.CloseWithError(err)
			return
		}
	}
}
