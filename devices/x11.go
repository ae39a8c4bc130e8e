package devices

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/witness"
)

// X11SocketDir is where X servers put their Unix sockets, on the host and
// in the sandbox.
const X11SocketDir = "/tmp/.X11-unix"

// X11SocketPath returns the path of display number n's socket.
func X11SocketPath(n int) string { return X11SocketDir + "/X" + strconv.Itoa(n) }

// X11Display is a local X display found on the host by ProbeX11.
type X11Display struct {
	Number int    // N in DISPLAY=":N.S"
	Screen int    // S in DISPLAY=":N.S"; 0 when DISPLAY names none
	Socket string // host path of the display's Unix socket

	// Cookie is the display's MIT-MAGIC-COOKIE-1, or nil when the host
	// has none for it (a server started without -auth needs none). It is
	// at most 65535 bytes, as every cookie read from an Xauthority is.
	Cookie Cookie
}

// Cookie is secret authorization data. It prints as "<redacted>" so that it
// does not end up in logs by accident.
type Cookie []byte

func (Cookie) String() string   { return "<redacted>" }
func (Cookie) GoString() string { return "<redacted>" }

// ProbeX11 finds the X display named by $DISPLAY and its cookie.
//
// Only a local display is accepted (":0", ":0.0", "unix:0"): nook passes the
// display's Unix socket into the sandbox, never a TCP connection. The socket
// /tmp/.X11-unix/X<n> must exist. The cookie is read from $XAUTHORITY, else
// $HOME/.Xauthority, the way libXau picks it (see FindCookie); a missing file
// or a file without an entry for the display means no cookie, not an error.
func ProbeX11(getenv func(string) string) (*X11Display, error) {
	return probeX11(getenv, os.Stat, os.ReadFile, os.Hostname)
}

// ProbeX11Witnessed is ProbeX11, recording in w what it finds at the
// socket's and the Xauthority file's paths, before it reads the file.
func ProbeX11Witnessed(getenv func(string) string, w *witness.Log) (*X11Display, error) {
	return probeX11(getenv, w.Stat, w.ReadFile, os.Hostname)
}

func probeX11(getenv func(string) string, stat func(string) (fs.FileInfo, error),
	readFile func(string) ([]byte, error), hostname func() (string, error)) (*X11Display, error) {
	display := getenv("DISPLAY")
	if display == "" {
		return nil, errors.New(`the profile asks for x11 = "host" but DISPLAY is not set: ` +
			`run nook from a desktop session, or set DISPLAY (for example DISPLAY=:0)`)
	}
	num, screen, err := ParseDisplay(display)
	if err != nil {
		return nil, err
	}
	d := &X11Display{Number: num, Screen: screen, Socket: X11SocketPath(num)}
	fi, err := stat(d.Socket)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("DISPLAY=%s: no X server socket at %s: start the X server for :%d, or check that DISPLAY is right",
			display, d.Socket, num)
	case err != nil:
		return nil, fmt.Errorf("DISPLAY=%s: %w", display, err)
	case fi.Mode()&fs.ModeSocket == 0:
		return nil, fmt.Errorf("DISPLAY=%s: %s is not a socket: start the X server for :%d, or check that DISPLAY is right",
			display, d.Socket, num)
	}

	file := getenv("XAUTHORITY")
	if file == "" && getenv("HOME") != "" {
		file = path.Join(getenv("HOME"), ".Xauthority")
	}
	if file == "" {
		return d, nil
	}
	data, err := readFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the X cookie: %w (fix its permissions, or point XAUTHORITY at a readable file)", err)
	}
	// Like libXau, use the entries before any damage in the file.
	entries, perr := ParseXauthority(data)
	host, _ := hostname()
	d.Cookie = FindCookie(entries, host, num)
	if d.Cookie == nil && perr != nil {
		return nil, fmt.Errorf("read the X cookie from %s: %w (regenerate it, for example by logging in again)", file, perr)
	}
	return d, nil
}

// ParseDisplay parses a local X display name, [unix]:N[.S], into its display
// and screen numbers. Any other host part names a TCP display, which nook
// refuses.
func ParseDisplay(display string) (number, screen int, err error) {
	host, rest, ok := strings.Cut(display, ":")
	if !ok || strings.Contains(host, "/") {
		return 0, 0, fmt.Errorf("DISPLAY=%q is not an X display name: set DISPLAY to a local display such as :0", display)
	}
	if (host != "" && host != "unix") || strings.HasPrefix(rest, ":") {
		return 0, 0, fmt.Errorf("DISPLAY=%q is a network display: nook passes only a local X socket into the sandbox, "+
			"so run nook in the desktop session whose DISPLAY is local, such as :0 (X forwarding with ssh -X is not supported)", display)
	}
	numStr, screenStr, hasScreen := strings.Cut(rest, ".")
	number, err = parseDisplayNumber(numStr)
	if err == nil && hasScreen {
		screen, err = parseDisplayNumber(screenStr)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("DISPLAY=%q is not an X display name: set DISPLAY to a local display such as :0", display)
	}
	return number, screen, nil
}

func parseDisplayNumber(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a number")
	}
	return strconv.Atoi(s)
}

// Name returns the display's name inside the sandbox: ":N", or ":N.S" when
// DISPLAY named a screen other than 0.
func (d *X11Display) Name() string {
	if d.Screen != 0 {
		return fmt.Sprintf(":%d.%d", d.Number, d.Screen)
	}
	return ":" + strconv.Itoa(d.Number)
}

// Fragment grants the display: it binds only the display's socket, at
// /tmp/.X11-unix/X<n>, and sets DISPLAY. With a cookie it also adds
// runtimeDir/Xauthority, a secret file holding only this display's cookie as
// a FamilyWild entry (it matches whatever the sandbox's hostname is), and
// points XAUTHORITY at it. Without a cookie there is no file and no
// XAUTHORITY.
//
// The socket is bound read-only: connect(2) needs write permission on the
// socket inode, which a read-only mount does not take away.
func (d *X11Display) Fragment(runtimeDir string) Fragment {
	sock := X11SocketPath(d.Number)
	f := Fragment{
		Mounts: []specs.Mount{{
			Destination: sock,
			Type:        "bind",
			Source:      d.Socket,
			Options:     []string{"bind", "ro", "nosuid", "nodev", "noexec"},
		}},
		Env: map[string]string{"DISPLAY": d.Name()},
	}
	if len(d.Cookie) == 0 {
		return f
	}
	data, err := MarshalXauthority([]XauthEntry{{
		Family: FamilyWild,
		Number: strconv.Itoa(d.Number),
		Name:   MITMagicCookie,
		Data:   d.Cookie,
	}})
	if err != nil {
		panic("devices: X11Display.Cookie is longer than an Xauthority can hold")
	}
	file := path.Join(runtimeDir, "Xauthority")
	f.Env["XAUTHORITY"] = file
	f.Files = []sandbox.File{{Path: file, Mode: 0o600, Data: data, Secret: true}}
	return f
}

// Xauthority families (X.h, Xauth.h) that nook reads or writes.
const (
	FamilyLocal uint16 = 256    // a local connection; Address is the hostname
	FamilyWild  uint16 = 0xffff // matches any address
)

// MITMagicCookie is the name of the only X authorization protocol nook passes.
const MITMagicCookie = "MIT-MAGIC-COOKIE-1"

// XauthEntry is one entry of an Xauthority file. Number is the display
// number in decimal, or "" for any display.
type XauthEntry struct {
	Family  uint16
	Address string
	Number  string
	Name    string
	Data    []byte
}

// ParseXauthority parses an Xauthority file: a sequence of entries, each a
// big-endian uint16 family followed by address, number, name and data, each
// a big-endian uint16 length and that many bytes. On damage it returns the
// entries before it and an error.
func ParseXauthority(b []byte) ([]XauthEntry, error) {
	var entries []XauthEntry
	for len(b) > 0 {
		var e XauthEntry
		var fields [4][]byte
		if len(b) < 2 {
			return entries, fmt.Errorf("entry %d is truncated", len(entries)+1)
		}
		e.Family, b = binary.BigEndian.Uint16(b), b[2:]
		for i := range fields {
			if len(b) < 2 || len(b)-2 < int(binary.BigEndian.Uint16(b)) {
				return entries, fmt.Errorf("entry %d is truncated", len(entries)+1)
			}
			n := int(binary.BigEndian.Uint16(b))
			fields[i], b = b[2:2+n:2+n], b[2+n:]
		}
		e.Address, e.Number, e.Name = string(fields[0]), string(fields[1]), string(fields[2])
		e.Data = append([]byte(nil), fields[3]...)
		entries = append(entries, e)
	}
	return entries, nil
}

// MarshalXauthority encodes entries in the Xauthority format. A field longer
// than 65535 bytes is an error.
func MarshalXauthority(entries []XauthEntry) ([]byte, error) {
	var b []byte
	for i, e := range entries {
		b = binary.BigEndian.AppendUint16(b, e.Family)
		for _, field := range [][]byte{[]byte(e.Address), []byte(e.Number), []byte(e.Name), e.Data} {
			if len(field) > 0xffff {
				return nil, fmt.Errorf("xauthority entry %d: a field is %d bytes, more than 65535", i+1, len(field))
			}
			b = binary.BigEndian.AppendUint16(b, uint16(len(field)))
			b = append(b, field...)
		}
	}
	return b, nil
}

// FindCookie returns the MIT-MAGIC-COOKIE-1 that an X client on host
// hostname would send to local display number, or nil.
//
// It matches the way libXau (XauGetBestAuthByAddr, as called by libxcb for a
// Unix socket) does: the first entry in file order whose number is the
// display's or empty and whose family is FamilyWild, or FamilyLocal with
// address hostname. Failing that, it takes the first FamilyLocal entry for
// the display whatever its address: the hostname may have changed since the
// session began, and the server does not look at the address.
func FindCookie(entries []XauthEntry, hostname string, number int) Cookie {
	num := strconv.Itoa(number)
	usable := func(e XauthEntry) bool {
		return e.Name == MITMagicCookie && len(e.Data) > 0 && (e.Number == "" || e.Number == num)
	}
	for _, e := range entries {
		if usable(e) && (e.Family == FamilyWild || e.Family == FamilyLocal && e.Address == hostname) {
			return Cookie(e.Data)
		}
	}
	for _, e := range entries {
		if usable(e) && e.Family == FamilyLocal {
			return Cookie(e.Data)
		}
	}
	return nil
}
