// Package recipe reads nook build recipes and builds images from them.
//
// A recipe is a TOML file:
//
//	from = "debian:bookworm"          # the base image (required)
//	tag = "local/hello:1"             # the image built (required)
//	env = { LANG = "C.UTF-8" }        # set in the image and in every step
//
//	[[step]]
//	run = "apt-get update && apt-get install -y hello"
//
//	[[step]]
//	copy = { src = "hello.conf", dst = "/etc/hello.conf" }
//
// Each step is exactly one of run (a /bin/sh -c command run in a build
// sandbox on the layers so far) or copy (a file beside the recipe copied
// into the image). Each step adds one layer.
package recipe

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
)

// ErrInvalid is wrapped by every error about a recipe's contents.
var ErrInvalid = errors.New("invalid recipe")

// Error is a problem in a recipe, printed as "FILE:LINE: MSG" (or
// "FILE: MSG" when no line is to blame). It wraps ErrInvalid.
type Error struct {
	Source string
	Line   int
	Msg    string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Source + ": " + e.Msg
	}
	return e.Source + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Recipe is a parsed recipe.
type Recipe struct {
	From  string
	Tag   string
	Env   map[string]string
	Steps []Step
	// Source is the recipe's path; Dir is its directory, against which
	// copy sources are resolved.
	Source, Dir string
}

// Step is one step: Run or Copy is set, never both.
type Step struct {
	Run  string
	Copy *Copy
	// Line is where the step starts in the recipe.
	Line int
}

// Copy copies the file Src (relative to the recipe's directory) to Dst, an
// absolute path in the image.
type Copy struct {
	Src, Dst string
}

// String describes the step in one line, for progress output.
func (s Step) String() string {
	if s.Copy != nil {
		return fmt.Sprintf("copy %s %s", s.Copy.Src, s.Copy.Dst)
	}
	return "run " + s.Run
}

// Load reads and parses the recipe at path.
func Load(file string) (*Recipe, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading recipe: %w", err)
	}
	return Parse(file, data)
}

// envName is compiled on first use, not at every nook start-up.
var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// Parse parses recipe data read from source. Unknown keys, wrong types and
// missing or malformed values are *Error values naming the line; the first
// in the file is returned.
func Parse(source string, data []byte) (*Recipe, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{Source: source, Line: pe.Position.Line, Msg: "not valid TOML: " + strings.ReplaceAll(pe.Message, "\n", " ")}
		}
		return nil, &Error{Source: source, Msg: "not valid TOML: " + err.Error()}
	}
	p := &parser{source: source, lines: keyLines(string(data))}
	r := &Recipe{Source: source, Dir: filepath.Dir(source), Env: map[string]string{}}
	for k, v := range doc {
		switch k {
		case "from":
			r.From = p.str(k, v)
		case "tag":
			r.Tag = p.str(k, v)
		case "env":
			m, ok := v.(map[string]any)
			if !ok {
				p.fail(k, "env must be a table of strings, as in env = { LANG = \"C.UTF-8\" }")
				continue
			}
			for name, val := range m {
				key := "env." + name
				if !envName().MatchString(name) {
					p.fail(key, fmt.Sprintf("env: %q is not a variable name", name))
				}
				r.Env[name] = p.str(key, val)
			}
		case "step":
			steps, ok := v.([]map[string]any)
			if !ok {
				p.fail(k, "step must be an array of tables: [[step]]")
				continue
			}
			for i, st := range steps {
				r.Steps = append(r.Steps, p.step(i, st))
			}
		default:
			p.fail(k, fmt.Sprintf("unknown key %q; a recipe has from, tag, env and [[step]]", k))
		}
	}
	for k, ex := range map[string]string{"from": `from = "debian:bookworm"`, "tag": `tag = "local/myapp:1"`} {
		if _, ok := doc[k]; !ok {
			p.fail("", fmt.Sprintf("missing key %q, as in %s", k, ex))
		}
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return cmp.Compare(uint(a.Line-1), uint(b.Line-1)) })
		return nil, p.errs[0]
	}
	return r, nil
}

type parser struct {
	source string
	lines  map[string]int
	errs   []*Error
}

func (p *parser) fail(key, msg string) {
	p.errs = append(p.errs, &Error{Source: p.source, Line: p.lines[key], Msg: msg})
}

func (p *parser) str(key string, v any) string {
	s, ok := v.(string)
	switch {
	case !ok:
		p.fail(key, fmt.Sprintf("%s must be a string", key))
	case s == "":
		p.fail(key, fmt.Sprintf("%s must not be empty", key))
	case strings.ContainsRune(s, 0):
		p.fail(key, fmt.Sprintf("%s must not contain NUL", key))
	}
	return s
}

func (p *parser) step(i int, m map[string]any) Step {
	at := fmt.Sprintf("step[%d]", i)
	st := Step{Line: p.lines[at]}
	_, hasRun := m["run"]
	_, hasCopy := m["copy"]
	unknown := false
	for k := range m {
		unknown = unknown || (k != "run" && k != "copy")
	}
	if hasRun == hasCopy && !unknown { // a misspelt key says more
		p.fail(at, "a step needs exactly one of run or copy")
	}
	for k, v := range m {
		key := at + "." + k
		switch k {
		case "run":
			st.Run = p.str(key, v)
		case "copy":
			c, ok := v.(map[string]any)
			if !ok {
				p.fail(key, `copy must be a table, as in copy = { src = "app.conf", dst = "/etc/app.conf" }`)
				continue
			}
			st.Copy = &Copy{}
			for ck, cv := range c {
				switch ck {
				case "src":
					st.Copy.Src = p.str(key+".src", cv)
				case "dst":
					st.Copy.Dst = p.str(key+".dst", cv)
				default:
					p.fail(key, fmt.Sprintf("copy: unknown key %q; copy has src and dst", ck))
				}
			}
			switch {
			case st.Copy.Src == "" || st.Copy.Dst == "":
				p.fail(key, "copy needs src and dst")
			case filepath.IsAbs(st.Copy.Src) || !filepath.IsLocal(st.Copy.Src):
				p.fail(key, fmt.Sprintf("copy: src %q must be a path inside the recipe's directory", st.Copy.Src))
			case !path.IsAbs(st.Copy.Dst) || path.Clean(st.Copy.Dst) != st.Copy.Dst || st.Copy.Dst == "/":
				p.fail(key, fmt.Sprintf("copy: dst %q must be a clean absolute file path in the image", st.Copy.Dst))
			}
		default:
			p.fail(key, fmt.Sprintf("unknown key %q in [[step]]; a step has run or copy", k))
		}
	}
	return st
}

// keyLines maps the keys of a recipe to their lines: "from", "env",
// "env.NAME", "step[I]" (its [[step]] header) and "step[I].KEY". It reads
// the simple layout recipes use (top-level keys, [[step]] tables, inline
// tables on one line); keys it cannot place get line 0.
func keyLines(doc string) map[string]int {
	lines := map[string]int{}
	prefix, steps := "", 0
	key := regexp.MustCompile(`^\s*("?)([A-Za-z0-9_.-]+)("?)\s*=`)
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "[[step]]" || strings.HasPrefix(line, "[[step]]"):
			prefix = fmt.Sprintf("step[%d]", steps)
			steps++
			lines[prefix] = n
		case strings.HasPrefix(line, "[env]"):
			prefix = "env"
			lines[prefix] = n
		case strings.HasPrefix(line, "["):
			prefix = strings.Trim(line, "[] ")
			lines[prefix] = n
		default:
			m := key.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			k := m[2]
			if prefix != "" {
				k = prefix + "." + k
			}
			if _, ok := lines[k]; !ok {
				lines[k] = n
			}
			if strings.HasSuffix(k, "env") || strings.HasSuffix(k, "copy") {
				// Inline table: its keys are on this line.
				for _, sub := range regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*=`).FindAllStringSubmatch(line[len(m[0]):], -1) {
					if _, ok := lines[k+"."+sub[1]]; !ok {
						lines[k+"."+sub[1]] = n
					}
				}
			}
		}
	}
	return lines
}
