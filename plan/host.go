package plan

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nook-sandbox/nook/devices"
	"github.com/nook-sandbox/nook/profiles"
	"github.com/nook-sandbox/nook/witness"
)

// Host is what Compile needs to know about the machine and the user. It is
// gathered by ProbeHost; tests build it by hand.
type Host struct {
	// UID and GID are the app's identity, the same inside and outside the
	// sandbox. Never 0: as root, nook runs apps as SUDO_UID/SUDO_GID, or
	// as nobody (65534) when those are unset.
	UID, GID    uint32
	User, Group string
	// Home is the app's home directory path inside the sandbox: the
	// user's own home path, so paths in its config files stay valid.
	Home string
	// UserHome is the invoking user's home on the host; "~/" in a mount
	// source means this.
	UserHome string
	// HomesDir holds the apps' persistent homes on the host, one
	// directory per app@version.
	HomesDir string
	// Env holds the host variables the app inherits.
	Env map[string]string
	// Dirs maps each top-level system directory that exists on the host to
	// its symlink target, or to "" when it is a real directory.
	Dirs map[string]string
	// Optional says which optional host paths exist.
	Optional map[string]bool
	// X11 is the host's display; nil unless the profile asks for it.
	X11 *devices.X11Display
	// RootsDir holds the persistent roots (overlay upper and work dirs)
	// of apps on images, one directory per app@version.
	RootsDir string
	// Image is the resolved image of a profile whose image is not "host";
	// nil otherwise. See ResolveImage.
	Image *Image
}

// AppHome is the host directory holding the persistent home of app id.
func (h *Host) AppHome(id string) string { return filepath.Join(h.HomesDir, id) }

// nobody is the identity apps get when root runs nook without sudo.
const nobody = 65534

// ProbeHost reads what Compile needs for profile p from the running system
// and the environment getenv reads.
func ProbeHost(p *profiles.Profile, getenv func(string) string) (*Host, error) {
	return ProbeHostWitnessed(p, getenv, nil)
}

// ProbeHostWitnessed is ProbeHost, recording in w (nil: nowhere) what it
// finds at every host path it looks at, before it reads what is there.
// The environment is not recorded: a warm launch compares all of it.
func ProbeHostWitnessed(p *profiles.Profile, getenv func(string) string, w *witness.Log) (*Host, error) {
	h := &Host{Env: map[string]string{}, Dirs: map[string]string{}, Optional: map[string]bool{}}
	// User lookups read these.
	w.Stat("/etc/passwd")
	w.Stat("/etc/group")
	if err := identity(h, getenv); err != nil {
		return nil, err
	}
	for _, k := range passEnv {
		if v := getenv(k); v != "" {
			h.Env[k] = v
		}
	}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "LC_") && getenv(k) == v {
			h.Env[k] = v
		}
	}
	for _, d := range hostDirs {
		st, err := w.Lstat(d)
		if err != nil {
			continue
		}
		if st.Mode()&os.ModeSymlink != 0 {
			if h.Dirs[d], err = os.Readlink(d); err != nil {
				return nil, fmt.Errorf("reading host layout: %w", err)
			}
		} else if st.IsDir() {
			h.Dirs[d] = ""
		}
	}
	for _, o := range optionalBinds {
		if _, err := w.Stat(o); err == nil {
			h.Optional[o] = true
		}
	}
	if p.Image != profiles.ImageHost {
		probeImageEtc(h)
	}
	if p.Display.X11 == profiles.X11Host {
		x, err := devices.ProbeX11Witnessed(getenv, w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.ID(), err)
		}
		h.X11 = x
	}
	return h, nil
}

func identity(h *Host, getenv func(string) string) error {
	if os.Geteuid() != 0 {
		h.UID, h.GID = uint32(os.Getuid()), uint32(os.Getgid())
		u, err := user.LookupId(strconv.Itoa(os.Getuid()))
		if err == nil {
			h.User, h.UserHome = u.Username, u.HomeDir
		}
		if grp, err := user.LookupGroupId(strconv.Itoa(os.Getgid())); err == nil {
			h.Group = grp.Name
		}
		if h.User == "" {
			h.User = getenv("USER")
		}
		if home := getenv("HOME"); home != "" {
			h.UserHome = home
		}
		if h.User == "" || h.UserHome == "" {
			return fmt.Errorf("cannot tell who you are: uid %d has no passwd entry and USER or HOME is unset", os.Getuid())
		}
		h.Home = insideHome(h.UserHome, h.User)
		data := getenv("XDG_DATA_HOME")
		if !filepath.IsAbs(data) { // the XDG spec says to ignore relative paths
			data = filepath.Join(h.UserHome, ".local", "share")
		}
		h.HomesDir = filepath.Join(data, "nook", "homes")
		h.RootsDir = filepath.Join(data, "nook", "roots")
	} else {
		h.UserHome = getenv("HOME")
		if uid, gid := getenv("SUDO_UID"), getenv("SUDO_GID"); uid != "" && uid != "0" {
			u, err := user.LookupId(uid)
			if err != nil {
				return fmt.Errorf("SUDO_UID=%s: %w; unset SUDO_UID to run the app as nobody", uid, err)
			}
			n, err1 := strconv.ParseUint(uid, 10, 32)
			g, err2 := strconv.ParseUint(gid, 10, 32)
			if err1 != nil || err2 != nil || g == 0 {
				return fmt.Errorf("SUDO_UID=%q SUDO_GID=%q are not a usable identity; unset them to run the app as nobody", uid, gid)
			}
			h.UID, h.GID, h.User, h.Home, h.UserHome = uint32(n), uint32(g), u.Username, insideHome(u.HomeDir, u.Username), u.HomeDir
			if grp, err := user.LookupGroupId(gid); err == nil {
				h.Group = grp.Name
			}
		} else {
			h.UID, h.GID, h.User, h.Group, h.Home = nobody, nobody, "nobody", "nogroup", "/home/nobody"
		}
		// One directory per uid, owned by root: homes of different sudo
		// users never mix, and no user can replace another's.
		h.HomesDir = filepath.Join("/var/lib/nook/homes", strconv.Itoa(int(h.UID)))
		h.RootsDir = filepath.Join("/var/lib/nook/roots", strconv.Itoa(int(h.UID)))
	}
	if h.UID == 0 {
		return fmt.Errorf("refusing to run an app as uid 0")
	}
	return nil
}

// insideHome is the app's home path inside the sandbox: the user's own home
// path, unless that is a system directory (system accounts' homes such as
// /usr/sbin), where the sandbox uses /home/NAME instead.
func insideHome(home, name string) string {
	if home == "" || !filepath.IsAbs(home) || systemPath(home) {
		return "/home/" + name
	}
	return home
}

// PrepareHome creates the persistent home of app id if it is missing, owned
// by the app's identity, and returns its path.
func (h *Host) PrepareHome(id string) (string, error) {
	dir := h.AppHome(id)
	if err := os.MkdirAll(h.HomesDir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", h.HomesDir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("creating home for %s: %w", id, err)
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("home for %s: %s is not a directory; move it away", id, dir)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(dir, int(h.UID), int(h.GID)); err != nil {
			return "", fmt.Errorf("handing %s to uid %d: %w", dir, h.UID, err)
		}
	}
	return dir, nil
}
