package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Load reads the Docker or OCI seccomp profile at path and resolves it into
// a policy for a process that holds no capabilities, on the running
// architecture and kernel, the way Docker (moby) does.
//
// Both profile formats are accepted: the modern one (names, args, errnoRet,
// includes/excludes by caps, arches and minKernel, archMap, defaultErrnoRet)
// and the older flat one (one name per entry, a top-level architectures
// list); an OCI runtime-spec seccomp object is a modern profile without
// includes. An entry that includes a capability never applies; one that
// excludes a capability always does. Arches in includes/excludes use
// Docker's names (amd64, arm64, x86, x32, arm, ...). The architectures are
// the top-level list plus the archMap entry of the native architecture.
// Syscall names libseccomp does not know are dropped, and entries left
// without names with them, as Docker does.
//
// Errors are one line naming the file; a JSON error and a bad entry also name
// the line. Unknown keys, unknown actions or operators, SCMP_ACT_NOTIFY,
// listenerPath and flags are errors: nook cannot honour them and ignoring
// one could widen the policy.
func Load(path string) (*specs.LinuxSeccomp, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	s, err := parse(data, hostEnv())
	var le *lineError
	switch {
	case errors.As(err, &le) && le.line > 0:
		return nil, fmt.Errorf("seccomp profile %s:%d: %w", path, le.line, le.err)
	case err != nil:
		return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	return s, nil
}

// lineError is an error found at a line of a profile.
type lineError struct {
	line int // 1-based; 0 if unknown
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

func atLine(line int, format string, args ...any) error {
	return &lineError{line, fmt.Errorf(format, args...)}
}

// profile is the JSON form of a Docker seccomp profile (moby's
// api/types/seccomp.Seccomp), which is a superset of the OCI form.
type profile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet"`
	Architectures    []specs.Arch             `json:"architectures"`
	ArchMap          []archMapEntry           `json:"archMap"`
	Flags            []specs.LinuxSeccompFlag `json:"flags"`
	ListenerPath     string                   `json:"listenerPath"`
	ListenerMetadata string                   `json:"listenerMetadata"`
	Syscalls         []profileSyscall         `json:"syscalls"`
}

type archMapEntry struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type profileSyscall struct {
	Name     string                   `json:"name"` // older flat format
	Names    []string                 `json:"names"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet"`
	Args     []specs.LinuxSeccompArg  `json:"args"`
	Comment  string                   `json:"comment"`
	Includes *profileFilter           `json:"includes"`
	Excludes *profileFilter           `json:"excludes"`
}

type profileFilter struct {
	Caps      []string `json:"caps"`
	Arches    []string `json:"arches"`
	MinKernel string   `json:"minKernel"`
}

// loadEnv is what resolving a profile depends on besides the profile.
type loadEnv struct {
	arch       string     // Docker's name of the native architecture: amd64, x86, arm64, ...
	seccomp    specs.Arch // the same as a libseccomp architecture
	kernel     [2]int     // running kernel's major and minor version
	knownNames func(string) bool
}

// dockerArches maps GOARCH to Docker's architecture names (moby's goToNative
// and nativeToSeccomp).
var dockerArches = map[string]struct {
	name    string
	seccomp specs.Arch
}{
	"386":     {"x86", specs.ArchX86},
	"amd64":   {"amd64", specs.ArchX86_64},
	"arm":     {"arm", specs.ArchARM},
	"arm64":   {"arm64", specs.ArchAARCH64},
	"ppc64le": {"ppc64le", specs.ArchPPC64LE},
	"riscv64": {"riscv64", specs.ArchRISCV64},
	"s390x":   {"s390x", specs.ArchS390X},
	"loong64": {"loong64", specs.ArchLOONGARCH64},
}

func hostEnv() loadEnv {
	a := dockerArches[runtime.GOARCH]
	env := loadEnv{arch: a.name, seccomp: a.seccomp, knownNames: knownSyscall}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		env.kernel, _ = parseKernel(unix.ByteSliceToString(u.Release[:]))
	}
	return env
}

// parseKernel reads the major and minor version from a kernel release such
// as "6.18.44-generic" or a minKernel such as "4.8".
func parseKernel(s string) ([2]int, error) {
	var v [2]int
	if _, err := fmt.Sscanf(s, "%d.%d", &v[0], &v[1]); err != nil {
		return v, fmt.Errorf("bad kernel version %q", s)
	}
	return v, nil
}

// parse decodes and resolves a profile. Errors at a known line are
// *lineError.
func parse(data []byte, env loadEnv) (*specs.LinuxSeccomp, error) {
	var p profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, atLine(lineAt(data, dec.InputOffset()), "unexpected data after the profile")
	}
	if p.DefaultAction == "" {
		return nil, errors.New("defaultAction is missing")
	}
	s := &specs.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  p.DefaultErrnoRet,
		Architectures:    slices.Clone(p.Architectures),
		Flags:            p.Flags,
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
	}
	for _, m := range p.ArchMap {
		if m.Arch == env.seccomp {
			s.Architectures = append(s.Architectures, m.Arch)
			s.Architectures = append(s.Architectures, m.SubArches...)
		}
	}
	s.Architectures = dedupe(s.Architectures)

	for i, e := range p.Syscalls {
		r, ok, err := resolve(e, env)
		if err != nil {
			return nil, atLine(entryLine(data, i), "syscalls[%d]: %w", i, err)
		}
		if ok {
			s.Syscalls = append(s.Syscalls, r)
		}
	}
	// Entries are checked above; this catches the profile-wide fields.
	if err := Validate(s); err != nil {
		return nil, err
	}
	return s, nil
}

// resolve checks one profile entry and returns it as an OCI rule, with ok
// false if it does not apply to env or names no syscall libseccomp knows.
func resolve(e profileSyscall, env loadEnv) (r specs.LinuxSyscall, ok bool, err error) {
	names := e.Names
	switch {
	case e.Name != "" && len(e.Names) > 0:
		return r, false, errors.New(`both "name" and "names" are set`)
	case e.Name != "":
		names = []string{e.Name}
	case len(e.Names) == 0:
		return r, false, errors.New("no syscall names")
	}
	r = specs.LinuxSyscall{Names: names, Action: e.Action, ErrnoRet: e.ErrnoRet, Args: e.Args}
	if err := validateRule(r); err != nil {
		return r, false, err
	}
	applies, err := env.applies(e)
	if err != nil || !applies {
		return r, false, err
	}
	r.Names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !env.knownNames(n) })
	return r, len(r.Names) > 0, nil
}

// applies reports whether an entry applies to a process without
// capabilities in env.
func (env loadEnv) applies(e profileSyscall) (bool, error) {
	if ex := e.Excludes; ex != nil {
		if slices.Contains(ex.Arches, env.arch) {
			return false, nil
		}
		// Excluded capabilities are never held, so they exclude nothing.
		if ex.MinKernel != "" {
			atLeast, err := env.kernelAtLeast(ex.MinKernel)
			if err != nil || atLeast {
				return false, err
			}
		}
	}
	if in := e.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, env.arch) {
			return false, nil
		}
		if len(in.Caps) > 0 {
			return false, nil
		}
		if in.MinKernel != "" {
			atLeast, err := env.kernelAtLeast(in.MinKernel)
			if err != nil || !atLeast {
				return false, err
			}
		}
	}
	return true, nil
}

func (env loadEnv) kernelAtLeast(minKernel string) (bool, error) {
	v, err := parseKernel(minKernel)
	if err != nil {
		return false, fmt.Errorf("minKernel: %w", err)
	}
	return env.kernel[0] > v[0] || env.kernel[0] == v[0] && env.kernel[1] >= v[1], nil
}

func dedupe(arches []specs.Arch) []specs.Arch {
	var out []specs.Arch
	for _, a := range arches {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// unknownField matches encoding/json's error for DisallowUnknownFields.
// It is compiled on first use, not at every start of nook.
var unknownField = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^json: unknown field "(.*)"$`) })

// jsonError turns a decoding error into a one-line error, at a line where
// one is known.
func jsonError(data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return atLine(lineAt(data, syntax.Offset), "invalid JSON: %s", syntax.Error())
	case errors.As(err, &typ):
		return atLine(lineAt(data, typ.Offset), "%s: JSON %s where %s is expected", typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return atLine(lineAt(data, int64(len(data))), "invalid JSON: unexpected end of file")
	}
	if m := unknownField().FindStringSubmatch(err.Error()); m != nil {
		return atLine(keyLine(data, m[1]), "unknown key %q", m[1])
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// lineAt returns the 1-based line holding byte offset off of data. A
// decoder's offset points just past the offending byte, so the byte before
// it decides.
func lineAt(data []byte, off int64) int {
	off = min(max(off-1, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// keyLine returns the line of the first occurrence of key as an object key,
// or 0 if there is none (the error then still names the key).
func keyLine(data []byte, key string) int {
	re := regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("%q", key)) + `\s*:`)
	loc := re.FindIndex(data)
	if loc == nil {
		return 0
	}
	return lineAt(data, int64(loc[0])+1)
}

// entryLine returns the line where element i of the top-level "syscalls"
// array starts, or 0 if it cannot be found. data must be valid JSON.
func entryLine(data []byte, i int) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return 0
		}
		if k, _ := key.(string); !strings.EqualFold(k, "syscalls") {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return 0
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return 0
		}
		for n := 0; dec.More(); n++ {
			// InputOffset is just past the previous token (or its
			// comma); the element starts at the next non-space byte.
			off := dec.InputOffset()
			rest := data[off:]
			start := off + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n,")))
			if n == i {
				return lineAt(data, start+1)
			}
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return 0
			}
		}
		return 0
	}
	return 0
}
