// Package plan compiles a profile into a sandbox plan: an OCI runtime spec
// plus what that spec has no field for.
//
// Compile is a pure function of a profile and the host facts gathered by
// ProbeHost; everything that reads the host lives in host.go.
package plan

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/devices"
	"github.com/nook-sandbox/nook/profiles"
	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/seccomp"
)

// ErrUnsupported is wrapped by errors for profile values this version of
// nook parses but cannot honour yet.
var ErrUnsupported = errors.New("not supported yet")

// DefaultPath is the app's PATH unless the profile's env sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// MaskedPaths are hidden from every app: kernel interfaces under /proc that
// leak host state, and host secrets under /etc. Paths that do not exist on
// the host are skipped at run time.
var MaskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
	"/proc/timer_stats",
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/sudoers", "/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private",
	"/etc/security/opasswd", "/etc/NetworkManager/system-connections",
	"/etc/wpa_supplicant", "/etc/ppp/chap-secrets", "/etc/ppp/pap-secrets",
	"/etc/ipsec.secrets", "/etc/krb5.keytab", "/etc/wireguard", "/etc/openvpn",
	"/etc/libvirt", "/etc/cups/ssl", "/etc/credstore", "/etc/credstore.encrypted",
	"/etc/subuid", "/etc/subgid",
}

// ReadonlyPaths are kernel interfaces the app may read but never write.
// /proc/sysrq-trigger is read-only rather than masked: a mask is /dev/null,
// to which a write succeeds, and a refused write is the clearer answer.
var ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// hostDirs are the top-level directories of the host image: bound
// read-only when they are directories, recreated when they are symlinks
// (merged /usr).
var hostDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"}

// optionalBinds are host paths bound read-only when they exist.
var optionalBinds = []string{"/var/cache/fontconfig", "/sys/devices/system/cpu", "/sys/devices/system/node"}

// passEnv are the host variables an app inherits, unless its profile sets
// them; LC_* is passed too.
var passEnv = []string{"TERM", "COLORTERM", "LANG", "LANGUAGE", "TZ", "NO_COLOR"}

// Compile turns profile p into a plan for the host h, with args appended to
// the profile's command. It does no I/O beyond reading a seccomp JSON file
// the profile names. An unsupported grant is an error wrapping
// ErrUnsupported.
func Compile(p *profiles.Profile, h *Host, args []string) (*sandbox.Plan, error) {
	if err := supported(p); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Source, err)
	}
	if h.UID == 0 || h.GID == 0 {
		return nil, errors.New("refusing to plan a sandbox whose app runs as uid or gid 0")
	}
	if err := checkHost(h); err != nil {
		return nil, err
	}
	pl := &sandbox.Plan{App: p.ID(), Network: sandbox.Network{Mode: p.Network.Mode}}
	s := &pl.Spec
	s.Version = specs.Version
	s.Hostname = p.Name
	s.Root = &specs.Root{Path: "", Readonly: true}
	runtimeDir := "/run/user/" + decimal(h.UID)

	env := map[string]string{
		"PATH":            DefaultPath,
		"HOME":            h.Home,
		"USER":            h.User,
		"LOGNAME":         h.User,
		"SHELL":           "/bin/sh",
		"XDG_RUNTIME_DIR": runtimeDir,
		"container":       "nook",
	}
	if p.Image != profiles.ImageHost && h.Image != nil {
		imageEnv(h.Image, env) // the host's TERM, LANG, ... and the profile win
	}
	for k, v := range h.Env {
		env[k] = v
	}

	// The base file system: host or layered image, kernel interfaces,
	// scratch space.
	onImage := p.Image != profiles.ImageHost
	if onImage {
		root, err := imageRoot(p, h)
		if err != nil {
			return nil, err
		}
		s.Root.Readonly = false
		s.Mounts = append(s.Mounts, root)
	} else {
		s.Mounts = append(s.Mounts, hostImage(h, &pl.Symlinks)...)
	}
	s.Mounts = append(s.Mounts, kernelMounts()...)
	s.Mounts = append(s.Mounts, tmpfs(runtimeDir, "mode=700", "nosuid", "nodev"))
	if !onImage { // an image brings its own /var
		s.Mounts = append(s.Mounts, tmpfs("/var", "mode=755", "nosuid", "nodev"))
	}
	s.Mounts = append(s.Mounts, tmpfs("/home", "mode=755", "nosuid", "nodev"))
	pl.Symlinks = append(pl.Symlinks,
		sandbox.Symlink{Path: "/dev/ptmx", Target: "pts/ptmx"},
		sandbox.Symlink{Path: "/dev/fd", Target: "/proc/self/fd"},
		sandbox.Symlink{Path: "/dev/stdin", Target: "/proc/self/fd/0"},
		sandbox.Symlink{Path: "/dev/stdout", Target: "/proc/self/fd/1"},
		sandbox.Symlink{Path: "/dev/stderr", Target: "/proc/self/fd/2"},
	)
	if !onImage {
		pl.Symlinks = append(pl.Symlinks,
			sandbox.Symlink{Path: "/var/run", Target: "../run"},
			sandbox.Symlink{Path: "/var/tmp", Target: "../tmp"},
			sandbox.Symlink{Path: "/var/lock", Target: "../run/lock"},
		)
	}
	for _, p := range optionalBinds {
		// The host's font cache describes the host's fonts, not an image's.
		if h.Optional[p] && !(onImage && strings.HasPrefix(p, "/var/")) {
			s.Mounts = append(s.Mounts, bind(p, p, "ro", "nosuid", "nodev", "noexec"))
		}
	}

	// Home: the app's own persistent directory, or a tmpfs.
	if p.Filesystem.Home == profiles.Ephemeral {
		s.Mounts = append(s.Mounts, tmpfs(h.Home, "mode=700", "nosuid", "nodev"))
	} else {
		s.Mounts = append(s.Mounts, bind(h.AppHome(p.ID()), h.Home, "rw", "nosuid", "nodev"))
	}

	// The profile's own mounts.
	for _, m := range p.Filesystem.Mounts {
		mode := "ro"
		if m.ReadWrite {
			mode = "rw"
		}
		src := expandHome(m.Source, h.UserHome)
		dst := expandHome(m.Target, h.Home)
		if !path.IsAbs(src) {
			return nil, fmt.Errorf("%s: filesystem.mounts source %q: the invoking user's home is unknown (HOME is unset); use an absolute path", p.Source, m.Source)
		}
		if err := checkTarget(dst); err != nil {
			return nil, fmt.Errorf("%s: filesystem.mounts target %q: %w", p.Source, m.Target, err)
		}
		s.Mounts = append(s.Mounts, bind(src, dst, mode, "nosuid", "nodev"))
	}

	// Devices.
	if p.Display.X11 == profiles.X11Host {
		if h.X11 == nil {
			return nil, errors.New("profile asks for x11 = \"host\" but the host's display was not probed")
		}
		addFragment(pl, h.X11.Fragment(runtimeDir), env)
	}

	pl.Files = append(pl.Files,
		sandbox.File{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd(h))},
		sandbox.File{Path: "/etc/group", Mode: 0o644, Data: []byte(group(h))},
	)
	cwd := h.Home
	if onImage {
		imageNetwork(p, h, pl)
		if wd := h.Image.WorkingDir; path.IsAbs(wd) {
			cwd = wd
		}
	}

	for k, v := range p.Env {
		env[k] = v
	}
	s.Process = &specs.Process{
		Args:            append(append([]string{}, p.Command...), args...),
		Env:             envList(env),
		Cwd:             cwd,
		User:            specs.User{UID: h.UID, GID: h.GID},
		NoNewPrivileges: true,
		Capabilities: &specs.LinuxCapabilities{
			Bounding: []string{}, Effective: []string{}, Inheritable: []string{},
			Permitted: []string{}, Ambient: []string{},
		},
	}

	l := &specs.Linux{
		UIDMappings:   []specs.LinuxIDMapping{{ContainerID: h.UID, HostID: h.UID, Size: 1}},
		GIDMappings:   []specs.LinuxIDMapping{{ContainerID: h.GID, HostID: h.GID, Size: 1}},
		MaskedPaths:   slices.Clone(MaskedPaths),
		ReadonlyPaths: slices.Clone(ReadonlyPaths),
		Resources:     resources(p.Resources),
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.UserNamespace, specs.MountNamespace, specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace} {
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: ns})
	}
	if p.Network.Mode == profiles.NetworkNone {
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	} else {
		pl.Warnings = append(pl.Warnings, "network = \"host\": the app shares the host's network, including abstract Unix sockets such as the X server's and D-Bus's")
	}
	var err error
	if l.Seccomp, err = seccompPolicy(p.Security); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Source, err)
	}
	if l.Seccomp == nil {
		pl.Warnings = append(pl.Warnings, "security.seccomp = \"unconfined\": the app may use every system call the kernel offers")
	}
	s.Linux = l
	return pl, nil
}

// Check reports what Compile would refuse in p whatever the host: grants
// this version does not support, and a seccomp policy that does not load.
func Check(p *profiles.Profile) error {
	if err := supported(p); err != nil {
		return fmt.Errorf("%s: %w", p.Source, err)
	}
	if _, err := seccompPolicy(p.Security); err != nil {
		return fmt.Errorf("%s: %w", p.Source, err)
	}
	return nil
}

// supported refuses grants that are parsed but not implemented yet.
func supported(p *profiles.Profile) error {
	no := func(what, fix string) error { return fmt.Errorf("%s is %w; %s", what, ErrUnsupported, fix) }
	switch {
	case p.Display.X11 == profiles.X11Nested:
		return no(`display.x11 = "nested"`, `use "host" or "none"`)
	case p.Display.Wayland:
		return no("display.wayland = true", "remove it and use display.x11")
	case p.Audio.Pulse:
		return no("audio.pulse = true", "remove it")
	case p.Audio.ALSA:
		return no("audio.alsa = true", "remove it")
	case p.Devices.Webcam:
		return no("devices.webcam = true", "remove it")
	case p.Devices.GPU:
		return no("devices.gpu = true", "remove it")
	case len(p.Devices.Extra) > 0:
		return no("devices.extra", "remove it")
	case p.Network.Mode == profiles.NetworkBridge:
		return no(`network.mode = "bridge"`, `use "none" or "host"`)
	}
	return nil
}

func seccompPolicy(sec profiles.Security) (*specs.LinuxSeccomp, error) {
	var pol *specs.LinuxSeccomp
	switch sec.Seccomp {
	case profiles.SeccompUnconfined:
		if len(sec.AllowSyscalls) > 0 || len(sec.DenySyscalls) > 0 {
			return nil, errors.New(`security.allow_syscalls and deny_syscalls need a seccomp policy; remove them or set seccomp = "default"`)
		}
		return nil, nil
	case profiles.SeccompDefault, "":
		pol = seccomp.Default(seccomp.Options{NestedSandbox: sec.NestedSandbox})
	default:
		var err error
		if pol, err = seccomp.Load(sec.Seccomp); err != nil {
			return nil, fmt.Errorf("security.seccomp: %w", err)
		}
	}
	if err := seccomp.Adjust(pol, sec.AllowSyscalls, sec.DenySyscalls); err != nil {
		return nil, err
	}
	return pol, nil
}

// hostImage binds the host's system directories read-only, recreates its
// merged-/usr symlinks, and binds /etc read-only (secrets are masked).
func hostImage(h *Host, links *[]sandbox.Symlink) []specs.Mount {
	var mounts []specs.Mount
	for _, d := range hostDirs {
		target, ok := h.Dirs[d]
		switch {
		case !ok:
		case target != "":
			*links = append(*links, sandbox.Symlink{Path: d, Target: target})
		default:
			mounts = append(mounts, bind(d, d, "ro", "nosuid", "nodev"))
		}
	}
	return append(mounts, bind("/etc", "/etc", "ro", "nosuid", "nodev"))
}

// kernelMounts are every sandbox's /proc, its own /dev with the harmless
// device nodes, and tmpfs scratch space on /tmp and /run.
func kernelMounts() []specs.Mount {
	m := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}},
		tmpfs("/dev", "mode=755", "nosuid", "noexec"),
	}
	// The nodes are bound as they are: exec and set-uid mean nothing on a
	// device node, and a remount to say nosuid,noexec costs each launch
	// six mount calls.
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		m = append(m, bind("/dev/"+d, "/dev/"+d))
	}
	return append(m,
		specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		tmpfs("/dev/shm", "mode=1777", "nosuid", "nodev"),
		tmpfs("/tmp", "mode=1777", "nosuid", "nodev"),
		tmpfs("/run", "mode=755", "nosuid", "nodev"),
	)
}

func addFragment(pl *sandbox.Plan, f devices.Fragment, env map[string]string) {
	pl.Spec.Mounts = append(pl.Spec.Mounts, f.Mounts...)
	pl.Files = append(pl.Files, f.Files...)
	for k, v := range f.Env {
		env[k] = v
	}
}

func bind(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"bind"}, opts...)}
}

func tmpfs(dst string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: opts}
}

// expandHome replaces a leading "~" in p by home.
func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return path.Join(home, rest)
	}
	return p
}

// checkTarget refuses mount targets that would cover the sandbox's own
// kernel interfaces or its root.
func checkTarget(dst string) error {
	for _, p := range []string{"/proc", "/dev", "/sys"} {
		if dst == p || strings.HasPrefix(dst, p+"/") {
			return fmt.Errorf("may not be under %s; pick a path under ~ or /mnt", p)
		}
	}
	if dst == "/" {
		return errors.New("may not be /")
	}
	return nil
}

func resources(r profiles.Resources) *specs.LinuxResources {
	var res specs.LinuxResources
	set := false
	if r.Memory > 0 || r.MemorySwap >= 0 {
		res.Memory = &specs.LinuxMemory{}
		if r.Memory > 0 {
			res.Memory.Limit = &r.Memory
		}
		// OCI's Swap is memory plus swap, as memory_swap is; but 0 there
		// means "unset", so "no swap" is written as swap = memory.
		switch swap := r.MemorySwap; {
		case swap > 0:
			res.Memory.Swap = &swap
		case swap == 0 && r.Memory > 0:
			res.Memory.Swap = &r.Memory
		}
		set = true
	}
	if r.CPUs > 0 || r.CPUSet != "" || r.CPUWeight > 0 {
		res.CPU = &specs.LinuxCPU{Cpus: r.CPUSet}
		if r.CPUs > 0 {
			period := uint64(100000)
			quota := int64(math.Round(r.CPUs * float64(period)))
			res.CPU.Period, res.CPU.Quota = &period, &quota
		}
		if r.CPUWeight > 0 {
			s := SharesFromWeight(r.CPUWeight)
			res.CPU.Shares = &s
		}
		set = true
	}
	if r.PIDs > 0 {
		res.Pids = &specs.LinuxPids{Limit: &r.PIDs}
		set = true
	}
	if r.IOWeight > 0 {
		w := BlkioWeightFromIOWeight(r.IOWeight)
		res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
		set = true
	}
	if !set {
		return nil
	}
	return &res
}

// SharesFromWeight converts a cgroup v2 CPU weight (1..10000, default 100)
// to the cgroup v1 shares OCI specs carry (2..262144): the inverse of the
// linear mapping runc uses (weight = 1 + (shares-2)*9999/262142), rounded up
// so that runc maps the result back to w; weight 100 becomes 2598 shares.
func SharesFromWeight(w uint64) uint64 {
	return 2 + ((w-1)*262142+9998)/9999
}

// BlkioWeightFromIOWeight converts a cgroup v2 IO weight (1..10000) to the
// cgroup v1 blkio weight OCI specs carry (10..1000), rounding to nearest.
func BlkioWeightFromIOWeight(w uint64) uint16 {
	return uint16(10 + ((w-1)*990+9999/2)/9999)
}

// checkHost refuses host facts that would corrupt the sandbox's passwd or
// cover its kernel interfaces.
func checkHost(h *Host) error {
	for _, name := range []string{h.User, h.Group} {
		if strings.ContainsAny(name, ":\n\x00") {
			return fmt.Errorf("user or group name %q cannot be written to /etc/passwd", name)
		}
	}
	if !path.IsAbs(h.Home) {
		return fmt.Errorf("home %q is not an absolute path", h.Home)
	}
	if systemPath(h.Home) {
		return fmt.Errorf("home %s is a system directory the sandbox needs; run the app as a user whose home is under /home", h.Home)
	}
	return nil
}

// systemPath reports whether p is /, or in a directory the sandbox takes
// from the host image or makes itself, where a home must not be bound.
func systemPath(p string) bool {
	for _, sys := range []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc", "/dev", "/sys"} {
		if p == sys || strings.HasPrefix(p, sys+"/") {
			return true
		}
	}
	return p == "/"
}

// passwd lists root, the app's user and nobody, each once.
func passwd(h *Host) string {
	s := "root:x:0:0:root:/root:/usr/sbin/nologin\n" + h.User + ":x:" + decimal(h.UID) + ":" + decimal(h.GID) + "::" + h.Home + ":/bin/sh\n"
	if h.UID != nobody && h.User != "nobody" {
		s += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	}
	return s
}

// group lists root, the app's group and nogroup, each once.
func group(h *Host) string {
	name := h.Group
	if name == "" {
		name = h.User
	}
	s := "root:x:0:\n" + name + ":x:" + decimal(h.GID) + ":\n"
	if h.GID != nobody && name != "nogroup" {
		s += "nogroup:x:65534:\n"
	}
	return s
}

// decimal formats a uid or gid. The plan's strings are built without fmt: its
// first use in a process cost a launch about 0.01 ms, and nothing else on
// nook run's way to the sandbox uses it.
func decimal(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
