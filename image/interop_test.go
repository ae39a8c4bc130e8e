package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nook-sandbox/nook/image/imagetest"
)

// TestSkopeoInterop checks archives against another implementation:
// skopeo (containers/image) reads what nook exports, in both formats, and
// nook imports what skopeo writes, in both formats, with the same diff IDs
// and config.
func TestSkopeoInterop(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatalf("skopeo is not installed (scripts/deps test installs it): %v", err)
	}
	s := openStore(t)
	img, _ := testImage(t, 11)
	dir := t.TempDir()
	imagetest.DockerArchive(t, filepath.Join(dir, "in.tar"), "interop/app:1", img)
	if _, err := s.Import(filepath.Join(dir, "in.tar"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ format, from, to string }{
		{FormatDocker, "docker-archive:", "oci-archive:"},
		{FormatOCI, "oci-archive:", "docker-archive:"},
	} {
		t.Run(c.format, func(t *testing.T) {
			exported := filepath.Join(dir, "nook-"+c.format+".tar")
			if err := s.Export("interop/app:1", exported, c.format); err != nil {
				t.Fatal(err)
			}
			copied := filepath.Join(dir, "skopeo-"+c.format+".tar")
			os.Remove(copied)
			out, err := exec.Command(skopeo, "--insecure-policy", "copy", "--quiet", c.from+exported, c.to+copied+":interop/copy:"+c.format).CombinedOutput()
			if err != nil {
				t.Fatalf("skopeo copy %s -> %s: %v\n%s", c.from, c.to, err, out)
			}
			s2 := openStore(t)
			if _, err := s2.Import(copied, ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			checkImage(t, s2, "interop/copy:"+c.format, img)
		})
	}
}
