package witness_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The variables a warm launch's facts leave out (fastlaunch.c,
// volatile_env) must be ones nook never reads: were nook's plan to depend
// on one, a launch after it changed could be warm with a stale plan. No
// code of nook's but that list names them (the Go runtime reads none). It
// lives here, not beside fastlaunch.c, because it reads the whole source
// tree, which only a test run from the source has.
func TestVolatileEnvUnread(t *testing.T) {
	src, err := os.ReadFile("../sandbox/fastlaunch.c")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`(?s)volatile_env\[\] = \{(.*?)\};`).FindSubmatch(src)
	if list == nil {
		t.Fatal("no volatile_env list in fastlaunch.c")
	}
	names := regexp.MustCompile(`"([A-Z_]+)="`).FindAllSubmatch(list[1], -1)
	if len(names) == 0 {
		t.Fatal("volatile_env names no variable")
	}
	root := ".." // the repository: this test runs from the source
	// (go test ./...), the kernel tiers' test binaries do not
	read := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		ext := filepath.Ext(path)
		if d.IsDir() || (ext != ".go" && ext != ".c" && ext != ".h") || strings.HasSuffix(path, "_test.go") ||
			filepath.Base(path) == "fastlaunch.c" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		read++
		for _, n := range names {
			if bytes.Contains(b, n[1]) {
				t.Errorf("%s names %s, which warm launches assume nook never reads", path, n[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if read < 50 {
		t.Errorf("read %d source files under %s: not nook's source tree", read, root)
	}
}
