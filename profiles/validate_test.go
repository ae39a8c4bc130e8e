package profiles

import (
	"regexp"
	"testing"
)

// TestNameChecks compares each check of names with the pattern it stands
// for, on every string of up to three bytes from an alphabet of each
// class's edges and beyond, and on some real values.
func TestNameChecks(t *testing.T) {
	checks := []struct {
		pattern string
		check   func(string) error
	}{
		{`^[a-z0-9][a-z0-9._-]*$`, checkName},
		{`^[a-z0-9_]+$`, checkSyscall},
		{`^[A-Za-z0-9-]+$`, checkCategory},
		{`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$`, checkMimeType},
	}
	const alphabet = "az09AZ._-/!#$&^+@`{[ \n\x00\x7f\xff"
	values := []string{"", "firefox", "firefox@esr", "esr-128.0", "text/html", "x-scheme-handler/https",
		"application/vnd.ms-excel", "a/b/c", "/a", "a/", "Network", "clone3", "é", "a\nb"}
	var grow func(s string)
	grow = func(s string) {
		values = append(values, s)
		if len(s) < 3 {
			for i := range len(alphabet) {
				grow(s + alphabet[i:i+1])
			}
		}
	}
	grow("")
	for _, c := range checks {
		re := regexp.MustCompile(c.pattern)
		for _, v := range values {
			if want, got := re.MatchString(v), c.check(v) == nil; got != want {
				t.Errorf("%q: check says %v, %s says %v", v, got, c.pattern, want)
			}
		}
	}
}
