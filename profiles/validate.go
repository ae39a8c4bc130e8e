package profiles

import (
	"errors"
	"fmt"
	"math/big"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Each check returns nil for a good value, or an error saying what the
// value must be; the decoder prefixes it with the key and the value.

// The checks of names below test bytes against the classes of the
// patterns in their comments, without regexp: compiling one cost each
// launch tens of microseconds (every profile has a name). TestNameChecks
// compares each with its pattern.

// alnum reports whether c is an ASCII letter or digit; upper says
// whether capital letters count.
func alnum(c byte, upper bool) bool {
	return 'a' <= c && c <= 'z' || upper && 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isNameStart(c byte) bool { return alnum(c, false) }
func isNameByte(c byte) bool  { return alnum(c, false) || c == '.' || c == '_' || c == '-' }
func isSyscall(c byte) bool   { return alnum(c, false) || c == '_' }
func isCategory(c byte) bool  { return alnum(c, true) || c == '-' }
func isMIMEStart(c byte) bool { return alnum(c, true) }
func isMIMEByte(c byte) bool  { return alnum(c, true) || strings.IndexByte("!#$&^_.+-", c) >= 0 }

// made reports whether s is a byte for which first holds, then bytes for
// which rest holds; s may be that first byte alone.
func made(s string, first, rest func(byte) bool) bool {
	if s == "" || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

// checkName checks an app name or version: it names files and directories,
// so it is made of [a-z0-9._-] and starts with a letter or digit.
// Pattern: ^[a-z0-9][a-z0-9._-]*$
func checkName(s string) error {
	if !made(s, isNameStart, isNameByte) {
		return errors.New(`must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`)
	}
	return nil
}

func noNUL(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("must not contain a NUL character")
	}
	return nil
}

// checkText checks text shown to people and written to desktop entries,
// where a newline would start a new key.
func checkText(s string) error {
	if strings.ContainsFunc(s, isControl) {
		return errors.New("must not contain control characters such as newlines")
	}
	return nil
}

// checkProgram checks command[0]: an absolute path, or a name looked up in
// the sandbox's PATH.
func checkProgram(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if strings.Contains(s, "/") && !path.IsAbs(s) {
		return errors.New(`must be an absolute path or a program name without "/"`)
	}
	return nil
}

func checkImage(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty; use %q or an image reference", ImageHost)
	}
	return nil
}

// oneOf returns a check that accepts only the given values.
func oneOf(values ...string) func(string) error {
	return func(s string) error {
		for _, v := range values {
			if s == v {
				return nil
			}
		}
		q := make([]string, len(values))
		for i, v := range values {
			q[i] = quote(v)
		}
		return fmt.Errorf("must be %s or %s", strings.Join(q[:len(q)-1], ", "), q[len(q)-1])
	}
}

// checkDevice checks a device path: clean, absolute and under /dev.
func checkDevice(s string) error {
	if !strings.HasPrefix(s, "/dev/") || path.Clean(s) != s {
		return errors.New(`must be a clean absolute path under /dev, as in "/dev/ttyUSB0"`)
	}
	return nil
}

// checkPort checks a published port, "HOST:CONTAINER" with an optional
// "/tcp" or "/udp".
func checkPort(s string) error {
	ports, proto, hasProto := strings.Cut(s, "/")
	host, container, ok := strings.Cut(ports, ":")
	if !ok || hasProto && proto != "tcp" && proto != "udp" || !isPort(host) || !isPort(container) {
		return errors.New(`must be "HOST:CONTAINER" with ports from 1 to 65535 and an optional "/tcp" or "/udp", as in "8080:80/tcp"`)
	}
	return nil
}

func isPort(s string) bool {
	n, err := strconv.ParseUint(s, 10, 16)
	return err == nil && n > 0
}

// checkMountPath checks a mount's source or target: absolute, or "~" or
// "~/..." for a home directory; clean, so without ".." or "." components,
// doubled or trailing slashes.
func checkMountPath(s string) error {
	if s == "~" {
		return nil
	}
	rest, home := strings.CutPrefix(s, "~/")
	p := "/" + rest // s as if home were "/"
	if !home {
		if !path.IsAbs(s) {
			return errors.New(`must be an absolute path or start with "~/"`)
		}
		p = s
	}
	if slices.Contains(strings.Split(p, "/"), "..") {
		return errors.New(`must not contain ".."`)
	}
	if clean := path.Clean(p); clean != p || home && p == "/" {
		if home {
			clean = strings.TrimSuffix("~"+clean, "/")
		}
		return fmt.Errorf("must be a clean path, as in %s", quote(clean))
	}
	return nil
}

// checkSeccomp checks security.seccomp before a relative path is made
// absolute.
func checkSeccomp(s string) error {
	switch {
	case s == SeccompDefault || s == SeccompUnconfined:
		return nil
	case strings.HasPrefix(s, "~"):
		return errors.New(`must not start with "~", which is not expanded here; use an absolute path or one relative to the profile's directory`)
	case !strings.HasSuffix(s, ".json"):
		return fmt.Errorf("must be %q, %q or the path of a JSON seccomp profile, ending in \".json\"", SeccompDefault, SeccompUnconfined)
	}
	return nil
}

// checkSyscall checks a syscall name. Pattern: ^[a-z0-9_]+$
func checkSyscall(s string) error {
	if !made(s, isSyscall, isSyscall) {
		return errors.New(`must be a syscall name: lowercase letters, digits and "_"`)
	}
	return nil
}

func checkIcon(s string) error {
	if strings.Contains(s, "/") && !path.IsAbs(s) {
		return errors.New("must be an icon name or an absolute path")
	}
	return nil
}

// checkCategory checks a menu category. Pattern: ^[A-Za-z0-9-]+$
func checkCategory(s string) error {
	if !made(s, isCategory, isCategory) {
		return errors.New(`must be a menu category: letters, digits and "-", as in "Network"`)
	}
	return nil
}

// checkMimeType checks a MIME type, TYPE/SUBTYPE. Pattern:
// ^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$
func checkMimeType(s string) error {
	typ, sub, _ := strings.Cut(s, "/") // "/" is in neither part's class
	if !made(typ, isMIMEStart, isMIMEByte) || !made(sub, isMIMEStart, isMIMEByte) {
		return errors.New(`must be a MIME type, as in "text/html"`)
	}
	return nil
}

// checkCPUSet checks a list of CPU numbers and ranges, as in "0-1,3".
func checkCPUSet(s string) error {
	for _, item := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		a, errA := strconv.ParseUint(lo, 10, 16)
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.ParseUint(hi, 10, 16)
		}
		if errA != nil || errB != nil || b < a {
			return errors.New(`must be CPU numbers and ascending ranges separated by ",", as in "0-3,6"`)
		}
	}
	return nil
}

func checkCPUs(n float64) error {
	if !(n > 0 && n <= 1024) {
		return errors.New("must be more than 0 and at most 1024, in cores, as in 1.5")
	}
	return nil
}

func positive(n int64) error {
	if n <= 0 {
		return errors.New("must be more than 0")
	}
	return nil
}

func nonNegative(n int64) error {
	if n < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

// Sizes are a decimal number, which may have a fraction, and a unit. K, M,
// G and T are powers of 1024, as in systemd and Docker, and may be written
// in either case and followed by "B" or "iB": "1.5G", "1.5GiB" and "1.5gb"
// are all 1610612736 bytes. No unit, or "B", means bytes. A fraction of a
// byte is dropped.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

var errSize = errors.New(`not a size; use a number with K, M, G or T, as in "512M"`)

// parseSize parses a size such as "512M" into bytes.
func parseSize(s string) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	whole, frac, hasFrac := strings.Cut(num, ".")
	mult, ok := sizeUnits[unit]
	if !ok || whole == "" || hasFrac && (frac == "" || strings.Contains(frac, ".")) {
		return 0, errSize
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, errSize
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, errors.New("too large")
	}
	return n.Int64(), nil
}
