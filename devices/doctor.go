package devices

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nook-sandbox/nook/sandbox"
)

// CheckDisplay is the doctor's display check: is there an X display that
// ProbeX11 accepts, with or without a cookie, and is there a Wayland socket.
// No display at all is a warning (nook can run apps that need none); a
// DISPLAY that nook cannot use fails.
func CheckDisplay(h *sandbox.Host) sandbox.Finding {
	f := sandbox.Finding{Name: "display"}
	wayland := waylandSocket(h)

	hostname := func() (string, error) {
		b, err := h.ReadFile("/proc/sys/kernel/hostname")
		return strings.TrimSpace(string(b)), err
	}
	d, err := probeX11(h.Getenv, h.Stat, h.ReadFile, hostname)
	switch {
	case h.Getenv("DISPLAY") == "":
		f.Status, f.Detail = sandbox.StatusWarn, "DISPLAY is not set: apps with x11 = \"host\" cannot start"
		f.Fix = displayFix(h, -1)
	case err != nil:
		f.Status, f.Detail = sandbox.StatusFail, err.Error()
		// A local display without a socket: suggest one that has one.
		if n, _, perr := ParseDisplay(h.Getenv("DISPLAY")); perr == nil {
			f.Fix = displayFix(h, n)
		}
	default:
		f.Status = sandbox.StatusOK
		f.Detail = fmt.Sprintf("X11 %s at %s", d.Name(), d.Socket)
		if d.Cookie != nil {
			f.Detail += ", with a cookie"
		} else {
			f.Detail += ", no cookie (the server must accept clients without one)"
		}
	}
	if wayland != "" {
		f.Detail += "; Wayland socket " + wayland + " (nook does not pass Wayland yet)"
	}
	return f
}

// displayFix returns "export DISPLAY=:N" when display N is the only one
// with a socket besides display not, else "".
func displayFix(h *sandbox.Host, not int) string {
	entries, err := h.ReadDir(X11SocketDir)
	if err != nil {
		return ""
	}
	var found []string
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), "X")
		if n, _, err := ParseDisplay(":" + num); ok && err == nil && n != not {
			found = append(found, fmt.Sprintf(":%d", n))
		}
	}
	if len(found) != 1 {
		return ""
	}
	return "export DISPLAY=" + found[0]
}

// waylandSocket returns the path of the Wayland socket named by
// WAYLAND_DISPLAY, if it exists.
func waylandSocket(h *sandbox.Host) string {
	name := h.Getenv("WAYLAND_DISPLAY")
	if name == "" {
		return ""
	}
	if !filepath.IsAbs(name) {
		if h.Getenv("XDG_RUNTIME_DIR") == "" {
			return ""
		}
		name = filepath.Join(h.Getenv("XDG_RUNTIME_DIR"), name)
	}
	if _, err := h.Stat(name); err != nil {
		return ""
	}
	return name
}
