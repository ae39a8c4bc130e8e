package profiles

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// builtinPrefix starts the Source of a profile embedded in nook.
const builtinPrefix = "builtin:"

// maxFileSize bounds what Load reads, so that "nook profile check /dev/zero"
// ends.
const maxFileSize = 1 << 20

// Load reads and parses the profile at path. A missing file is an error
// wrapping both ErrNotFound and fs.ErrNotExist.
func Load(path string) (*Profile, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		err = &os.PathError{Op: "open", Path: path, Err: err}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, fmt.Errorf("load profile: %w", err)
	}
	defer unix.Close(fd)
	data, err := readProfile(path, fdReader{fd, path})
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// fdReader reads a file with plain system calls. Load reads with it
// rather than with an os.File, which would also put the file in
// non-blocking mode, try to add it to the poller and put it back: five
// calls more in every launch, and the poller's set-up in the first.
type fdReader struct {
	fd   int
	path string
}

func (r fdReader) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(r.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, &os.PathError{Op: "read", Path: r.path, Err: err}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// readProfile reads a profile file of at most maxFileSize bytes.
func readProfile(source string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load profile: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, &Error{Source: source, Msg: "larger than 1 MiB; not a profile"}
	}
	return data, nil
}

// Parse parses and validates the TOML profile data read from source, and
// fills in the defaults of the keys it does not set.
//
// Source names the profile in errors and becomes Profile.Source. It is a
// file path, or "builtin:NAME.toml" for a profile embedded in nook. A
// relative security.seccomp path is made absolute relative to the
// directory of source (and to the working directory if source is itself
// relative); in a built-in profile it is an error.
//
// Any problem — a TOML syntax error, an unknown key, a value of the wrong
// type or out of range — is an *Error wrapping ErrInvalid that names the
// source, the line and the key. When there are several, the first in the
// file is returned.
func Parse(source string, data []byte) (*Profile, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{Source: source, Line: pe.Position.Line, Key: pe.LastKey, Msg: "not valid TOML: " + oneLine(pe.Message)}
		}
		return nil, &Error{Source: source, Msg: "not valid TOML: " + oneLine(err.Error())}
	}
	d := &decoder{source: source, doc: string(data)}
	p := d.profile(doc)
	if len(d.errs) > 0 {
		// The first in the file; those with no line last.
		slices.SortStableFunc(d.errs, func(a, b *Error) int {
			return cmp.Compare(uint(a.Line-1), uint(b.Line-1))
		})
		return nil, d.errs[0]
	}
	p.Source = source
	return p, nil
}

// oneLine escapes the control characters, newlines first, in a message
// that quotes the input.
func oneLine(msg string) string {
	if !strings.ContainsFunc(msg, isControl) {
		return msg
	}
	q := quote(msg)
	return q[1 : len(q)-1]
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
