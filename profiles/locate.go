package profiles

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// The toml package's MetaData knows where each key is but does not say, so
// keyLines finds the lines itself. It reads a document that toml has already
// parsed without error, so it only has to skip values correctly, never to
// diagnose them; on any other input it may miss lines, but it ends and does
// not panic (FuzzKeyLines).

// keyLines maps each key of a valid TOML document to the line (from 1) on
// which it is first defined. Paths are built by joinKey and index: tables
// and keys are joined with dots, the elements of arrays and arrays of tables
// take "[i]", as in "filesystem.mounts[1].source" and "command[0]".
func keyLines(doc string) map[string]int {
	s := &locator{s: doc, line: 1, lines: map[string]int{}, aot: map[string]int{}}
	s.s = strings.TrimPrefix(s.s, "\uFEFF")
	prefix := ""
	for {
		s.skip(true)
		if s.eof() {
			return s.lines
		}
		if s.peek() != '[' {
			s.keyval(prefix)
			continue
		}
		array := strings.HasPrefix(s.s[s.i:], "[[")
		if array {
			s.adv(2)
		} else {
			s.adv(1)
		}
		parts := s.key()
		if array {
			path := s.resolve(parts[:len(parts)-1])
			path = joinKey(path, parts[len(parts)-1])
			s.mark(path)
			prefix = index(path, s.aot[path])
			s.aot[path]++
			s.adv(2)
		} else {
			prefix = s.resolve(parts)
			s.adv(1)
		}
		s.mark(prefix)
	}
}

// locator is keyLines's cursor over the document.
type locator struct {
	s     string
	i     int
	line  int
	lines map[string]int
	aot   map[string]int // arrays of tables: path -> elements so far
}

func (s *locator) eof() bool { return s.i >= len(s.s) }

// adv advances n bytes, never past the end.
func (s *locator) adv(n int) { s.i = min(s.i+n, len(s.s)) }

// peek returns the current byte, or 0 at the end. The loops below stop at
// the end too, so that a document this reader misunderstands yields
// missing lines, not a panic.
func (s *locator) peek() byte {
	if s.eof() {
		return 0
	}
	return s.s[s.i]
}

// mark records that path is defined on the current line, unless it was
// defined before.
func (s *locator) mark(path string) {
	if _, ok := s.lines[path]; !ok {
		s.lines[path] = s.line
	}
}

// resolve turns the parts of a table header into a path, descending into
// the last element of each array of tables on the way, and marks the
// tables the header defines implicitly.
func (s *locator) resolve(parts []string) string {
	path := ""
	for _, p := range parts {
		path = joinKey(path, p)
		if n, ok := s.aot[path]; ok {
			path = index(path, n-1)
		}
		s.mark(path)
	}
	return path
}

// skip skips blanks and comments, and newlines too if nl is set.
func (s *locator) skip(nl bool) {
	for !s.eof() {
		switch c := s.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			s.adv(1)
		case c == '\n' && nl:
			s.adv(1)
			s.line++
		case c == '#':
			for !s.eof() && s.peek() != '\n' {
				s.adv(1)
			}
		default:
			return
		}
	}
}

// key reads a dotted key and returns its parts.
func (s *locator) key() []string {
	var parts []string
	for {
		s.skip(false)
		start := s.i
		switch s.peek() {
		case '"', '\'':
			s.str()
			var v struct{ K string }
			if _, err := toml.Decode("K = "+s.s[start:s.i], &v); err == nil {
				parts = append(parts, v.K)
			} else {
				parts = append(parts, strings.Trim(s.s[start:s.i], `"'`))
			}
		default:
			for !s.eof() && isBare(s.peek()) {
				s.adv(1)
			}
			parts = append(parts, s.s[start:s.i])
		}
		s.skip(false)
		if s.eof() || s.peek() != '.' {
			return parts
		}
		s.adv(1)
	}
}

// keyval reads "key = value" in the table at prefix.
func (s *locator) keyval(prefix string) {
	path := prefix
	for _, p := range s.key() {
		path = joinKey(path, p)
		s.mark(path)
	}
	s.adv(1) // '='
	s.skip(false)
	s.value(path)
}

// value skips a value, marking the keys of inline tables and the elements
// of arrays.
func (s *locator) value(path string) {
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '[':
		s.adv(1)
		for n := 0; ; n++ {
			s.skip(true)
			if s.peek() == ']' || s.eof() {
				s.adv(1)
				return
			}
			start := s.i
			s.mark(index(path, n))
			s.value(index(path, n))
			s.skip(true)
			if s.peek() == ',' || s.i == start {
				s.adv(1)
			}
		}
	case '{':
		s.adv(1)
		for {
			s.skip(true)
			if s.peek() == '}' || s.eof() {
				s.adv(1)
				return
			}
			start := s.i
			s.keyval(path)
			s.skip(true)
			if s.peek() == ',' || s.i == start {
				s.adv(1)
			}
		}
	default: // number, boolean, date: may hold blanks, never these
		for !s.eof() && !strings.ContainsRune(",]}\n#", rune(s.peek())) {
			s.adv(1)
		}
	}
}

// str skips a string of any of TOML's four kinds.
func (s *locator) str() {
	q := s.s[s.i : s.i+1]
	if qqq := q + q + q; strings.HasPrefix(s.s[s.i:], qqq) {
		s.adv(3)
		for !s.eof() && !strings.HasPrefix(s.s[s.i:], qqq) {
			s.char(q == `"`)
		}
		s.adv(3)
		// Up to two quotes may end the content: """a"""".
		for n := 0; n < 2 && s.peek() == q[0]; n++ {
			s.adv(1)
		}
		return
	}
	s.adv(1)
	for !s.eof() && s.peek() != q[0] {
		s.char(q == `"`)
	}
	s.adv(1)
}

// char skips one character of a string, or an escape sequence if escapes
// is set, counting lines.
func (s *locator) char(escapes bool) {
	switch s.peek() {
	case '\\':
		if escapes {
			s.adv(1)
			if s.peek() == '\n' {
				s.line++
			}
		}
	case '\n':
		s.line++
	}
	s.adv(1)
}

func isBare(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// joinKey appends key k to path, quoting it if TOML requires.
func joinKey(path, k string) string {
	if path == "" {
		return quoteKey(k)
	}
	return path + "." + quoteKey(k)
}

// index is the path of element i of the array at path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
