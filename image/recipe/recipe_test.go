package recipe

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	src := `# a recipe
from = "debian:bookworm"
tag = "local/hello:1"
env = { LANG = "C.UTF-8", DEBUG = "1" }

[[step]]
run = "apt-get update && apt-get install -y hello"

[[step]]
copy = { src = "conf/hello.conf", dst = "/etc/hello.conf" }
`
	r, err := Parse("/r/hello.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Recipe{
		From: "debian:bookworm", Tag: "local/hello:1",
		Env: map[string]string{"LANG": "C.UTF-8", "DEBUG": "1"},
		Steps: []Step{
			{Run: "apt-get update && apt-get install -y hello", Line: 6},
			{Copy: &Copy{Src: "conf/hello.conf", Dst: "/etc/hello.conf"}, Line: 9},
		},
		Source: "/r/hello.toml", Dir: "/r",
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", r, want)
	}
	if got := r.Steps[1].String(); got != "copy conf/hello.conf /etc/hello.conf" {
		t.Errorf("String = %q", got)
	}
}

// TestParseErrors: every bad input is one error naming the file, the line
// and what to do.
func TestParseErrors(t *testing.T) {
	const head = "from = \"debian:bookworm\"\ntag = \"t:1\"\n"
	for _, tc := range []struct {
		name, src string
		want      string // "FILE:LINE: ..." prefix and a fragment
	}{
		{"syntax", head + "[[step]\n", "r.toml:4: not valid TOML"},
		{"unknown top key", head + "form = \"x\"\n", "r.toml:3: unknown key \"form\""},
		{"missing from", "tag = \"t:1\"\n", "r.toml: missing key \"from\""},
		{"missing tag", "from = \"x\"\n", "r.toml: missing key \"tag\""},
		{"from not a string", "from = 3\ntag = \"t:1\"\n", "r.toml:1: from must be a string"},
		{"empty tag", "from = \"x\"\ntag = \"\"\n", "r.toml:2: tag must not be empty"},
		{"env not a table", head + "env = \"x\"\n", "r.toml:3: env must be a table"},
		{"env value", head + "env = { A = 1 }\n", "r.toml:3: env.A must be a string"},
		{"env name", head + "[env]\n\"A-B\" = \"x\"\n", "r.toml:4: env: \"A-B\" is not a variable name"},
		{"step not array", head + "[step]\nrun = \"x\"\n", "r.toml:3: step must be an array of tables"},
		{"unknown step key", head + "[[step]]\nrun = \"x\"\nrum = \"y\"\n", "r.toml:5: unknown key \"rum\" in [[step]]"},
		{"misspelt run", head + "[[step]]\nrum = \"x\"\n", "r.toml:4: unknown key \"rum\" in [[step]]"},
		{"empty step", head + "[[step]]\n", "r.toml:3: a step needs exactly one of run or copy"},
		{"both", head + "[[step]]\nrun = \"x\"\ncopy = { src = \"a\", dst = \"/a\" }\n", "r.toml:3: a step needs exactly one"},
		{"run type", head + "[[step]]\nrun = [\"x\"]\n", "r.toml:4: step[0].run must be a string"},
		{"second step", head + "[[step]]\nrun = \"x\"\n\n[[step]]\nrun = 1\n", "r.toml:7: step[1].run must be a string"},
		{"copy not table", head + "[[step]]\ncopy = \"a\"\n", "r.toml:4: copy must be a table"},
		{"copy without dst", head + "[[step]]\ncopy = { src = \"a\" }\n", "r.toml:4: copy needs src and dst"},
		{"copy unknown key", head + "[[step]]\ncopy = { src = \"a\", dst = \"/a\", mode = \"x\" }\n", "r.toml:4: copy: unknown key \"mode\""},
		{"copy src escapes", head + "[[step]]\ncopy = { src = \"../secret\", dst = \"/a\" }\n", "r.toml:4: copy: src \"../secret\" must be a path inside"},
		{"copy src absolute", head + "[[step]]\ncopy = { src = \"/etc/shadow\", dst = \"/a\" }\n", "r.toml:4: copy: src \"/etc/shadow\""},
		{"copy dst relative", head + "[[step]]\ncopy = { src = \"a\", dst = \"etc/a\" }\n", "r.toml:4: copy: dst \"etc/a\" must be a clean absolute"},
		{"copy dst unclean", head + "[[step]]\ncopy = { src = \"a\", dst = \"/etc/../a\" }\n", "r.toml:4: copy: dst \"/etc/../a\""},
		{"first error wins", "from = 1\ntag = 2\n", "r.toml:1: from must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("r.toml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse accepted\n%s", tc.src)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			prefix, frag, _ := strings.Cut(tc.want, ": ")
			if !strings.HasPrefix(err.Error(), prefix+": ") || !strings.Contains(err.Error(), frag) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}
