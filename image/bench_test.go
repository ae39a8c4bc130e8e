package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/nook-sandbox/nook/image/imagetest"
)

// benchLayer is a mixed layer of $NOOK_BENCH_LAYER_MB MiB (default 300),
// made once per run under $NOOK_BENCH_DIR (default $TMPDIR) and removed by
// TestMain.
var (
	benchOnce sync.Once
	benchPath string
	benchDir  string
)

func benchLayerFile(b *testing.B) string {
	benchOnce.Do(func() {
		mb := int64(300)
		if v, err := strconv.ParseInt(os.Getenv("NOOK_BENCH_LAYER_MB"), 10, 64); err == nil {
			mb = v
		}
		dir, err := os.MkdirTemp(os.Getenv("NOOK_BENCH_DIR"), "nook-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		benchPath = filepath.Join(dir, "layer.tar")
		f, err := os.Create(benchPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := imagetest.WriteMixedLayer(f, 42, mb<<20); err != nil {
			b.Fatal(err)
		}
		f.Close()
	})
	return benchPath
}

func benchSize(b *testing.B, p string) {
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
}

// BenchmarkUnpack: nook's safe unpacker on the layer, like `tar -x` below.
func BenchmarkUnpack(b *testing.B) {
	p := benchLayerFile(b)
	benchSize(b, p)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(benchDir, "out")
		removeTree(dir)
		os.Mkdir(dir, 0o755)
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := unpack(f, dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		removeTree(dir)
		b.StartTimer()
	}
}

// BenchmarkTarX: GNU tar extracting the same layer (owners and modes kept
// as root, as nook does).
func BenchmarkTarX(b *testing.B) {
	p := benchLayerFile(b)
	benchSize(b, p)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(benchDir, "out")
		removeTree(dir)
		os.Mkdir(dir, 0o755)
		b.StartTimer()
		if out, err := exec.Command("tar", "-xf", p, "-C", dir).CombinedOutput(); err != nil {
			b.Fatalf("tar: %v\n%s", err, out)
		}
		b.StopTimer()
		removeTree(dir)
		b.StartTimer()
	}
}

// BenchmarkAddLayer: the whole path a build layer takes: blob written and
// hashed, then unpacked from the blob and the diff ID checked.
func BenchmarkAddLayer(b *testing.B) {
	p := benchLayerFile(b)
	benchSize(b, p)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root := filepath.Join(benchDir, "store")
		removeTree(root)
		s, err := Open(root)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.AddLayer(f); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		removeTree(root)
		b.StartTimer()
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		removeTree(benchDir)
	}
	os.Exit(code)
}
