package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

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

// BenchmarkUnpackVsTar unpacks the layer with nook's safe unpacker and
// with GNU tar -x (owners and modes kept as root, as nook does), turn
// about, so both see the same machine load; it reports each one's MB/s and
// nook's throughput as a fraction of tar's (the target is >= 0.8).
func BenchmarkUnpackVsTar(b *testing.B) {
	p := benchLayerFile(b)
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(benchDir, "out")
	var nook, tar time.Duration
	for i := 0; i < b.N; i++ {
		for _, tool := range []string{"nook", "tar"} {
			removeTree(dir)
			os.Mkdir(dir, 0o755)
			start := time.Now()
			if tool == "nook" {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				_, err = unpack(f, dir)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				nook += time.Since(start)
			} else {
				if out, err := exec.Command("tar", "-xf", p, "-C", dir).CombinedOutput(); err != nil {
					b.Fatalf("tar: %v\n%s", err, out)
				}
				tar += time.Since(start)
			}
		}
	}
	removeTree(dir)
	mb := float64(fi.Size()) * float64(b.N) / 1e6
	b.ReportMetric(mb/nook.Seconds(), "nook-MB/s")
	b.ReportMetric(mb/tar.Seconds(), "tar-MB/s")
	b.ReportMetric(tar.Seconds()/nook.Seconds(), "nook/tar")
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
