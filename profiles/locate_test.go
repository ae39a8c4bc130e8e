package profiles

import (
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzKeyLines checks that keyLines neither panics nor hangs on any input,
// and that it finds every top-level key of a valid document.
func FuzzKeyLines(f *testing.F) {
	for _, seed := range []string{
		full,
		"a = 1\n[b]\nc = [1, [2, 3], {d = 4}]\n[[e]]\nf = '''x'''\n",
		"\"a.b\" = \"\"\"\nq\\\"\"\"\"\"\n'c' = 1979-05-27 07:32:00Z\n",
		"[a\n", "\"", "'''", "x = [", "x = {", "[[a]]\n[a.b]\nc = 1\n", "[0.0]",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		lines := keyLines(doc)
		var m map[string]any
		if _, err := toml.Decode(doc, &m); err != nil {
			return
		}
		for k := range m {
			if _, ok := lines[quoteKey(k)]; !ok {
				t.Errorf("no line for key %q in %q; have %v", k, doc, lines)
			}
		}
	})
}
