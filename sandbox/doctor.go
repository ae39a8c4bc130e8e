package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// This file is nook's doctor: checks that say whether this machine can run
// sandboxes and, for each problem, the command that fixes it.

// Status is how a Finding went.
type Status string

// Statuses of a Finding. Only StatusFail makes the doctor fail.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn" // nook runs, but something (a feature, a user) is left out
	StatusFail Status = "fail" // nook cannot run sandboxes
)

// Finding is what one check found.
type Finding struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"` // one line
	// Fix is a shell command that fixes the problem, or "" when there is
	// no problem or no command known to fix it.
	Fix string `json:"fix,omitempty"`
}

// Check inspects one thing about the host.
type Check func(h *Host) Finding

// Host is the machine as the checks see it: every read and every probe goes
// through it, so that tests can fake it. SystemHost returns the real one.
type Host struct {
	Euid       int
	Executable string // nook's path, for fixes that name it
	Getenv     func(string) string
	ReadFile   func(string) ([]byte, error)
	ReadDir    func(string) ([]fs.DirEntry, error)
	Stat       func(string) (fs.FileInfo, error)
	// Access is access(2): nil when path may be used with mode (unix.W_OK...).
	Access func(path string, mode uint32) error

	// NewUserNS creates a user namespace in a child process running as
	// uid, or as the caller when uid is -1.
	NewUserNS func(uid int) error
	// Overlay mounts an overlayfs in a child process in new user and mount
	// namespaces (see OverlayProbe). Nil: not checked.
	Overlay func() error
	// LibseccompVersion returns the version of the libseccomp that
	// compiles seccomp filters (linked into nook-image, which nook runs to
	// compile them). Nil: unknown, nook-image did not say.
	LibseccompVersion func() (major, minor, micro uint)
}

// SystemHost returns the real host. Overlay and LibseccompVersion are left
// nil: the caller sets them (the overlay probe re-executes nook; libseccomp
// is in nook-image).
func SystemHost() *Host {
	exe, _ := os.Executable()
	return &Host{
		Euid:       os.Geteuid(),
		Executable: exe,
		Getenv:     os.Getenv,
		ReadFile:   os.ReadFile,
		ReadDir:    os.ReadDir,
		Stat:       os.Stat,
		Access:     unix.Access,
		NewUserNS:  newUserNS,
	}
}

// Checks returns the runtime's checks in the order the doctor reports them.
func Checks() []Check {
	return []Check{checkKernel, checkUserNamespaces, checkOverlay, checkCgroups, checkSeccomp, checkLibseccomp}
}

// Diagnose runs checks on h.
func Diagnose(h *Host, checks []Check) []Finding {
	findings := make([]Finding, len(checks))
	for i, check := range checks {
		findings[i] = check(h)
	}
	return findings
}

// Failed says whether any finding failed.
func Failed(findings []Finding) bool {
	return slices.ContainsFunc(findings, func(f Finding) bool { return f.Status == StatusFail })
}

// WriteFindings writes one line per finding, "status  name  detail", and
// under each fix an indented "fix: COMMAND" line.
func WriteFindings(w io.Writer, findings []Finding) error {
	width := 0
	for _, f := range findings {
		width = max(width, len(f.Name))
	}
	var b bytes.Buffer
	for _, f := range findings {
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", f.Status, width, f.Name, f.Detail)
		if f.Fix != "" {
			fmt.Fprintf(&b, "%*s  fix: %s\n", 4+2+width, "", f.Fix)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteFindingsJSON writes {"ok": BOOL, "findings": [...]}; ok is false when
// a finding failed.
func WriteFindingsJSON(w io.Writer, findings []Finding) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK       bool      `json:"ok"`
		Findings []Finding `json:"findings"`
	}{!Failed(findings), findings})
}

// sudo returns "sudo " for a user who needs it to run a fix.
func (h *Host) sudo() string {
	if h.Euid == 0 {
		return ""
	}
	return "sudo "
}

// readInt reads a file holding one integer; ok is false when it cannot.
func (h *Host) readInt(path string) (n int, ok bool) {
	b, err := h.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err = strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// sysctlFix returns the command that sets a sysctl now and at every boot.
func (h *Host) sysctlFix(key, value string) string {
	file := "/etc/sysctl.d/90-nook.conf"
	return fmt.Sprintf("echo %s=%s | %stee -a %s && %ssysctl -p %s", key, value, h.sudo(), file, h.sudo(), file)
}

// kernelRelease returns the running kernel's release and its major and
// minor numbers.
func (h *Host) kernelRelease() (release string, major, minor int) {
	b, _ := h.ReadFile("/proc/sys/kernel/osrelease")
	release = strings.TrimSpace(string(b))
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	return release, major, minor
}

// kernelAtLeast says whether the running kernel is major.minor or newer.
func (h *Host) kernelAtLeast(major, minor int) bool {
	_, maj, min := h.kernelRelease()
	return maj > major || maj == major && min >= minor
}

// osRelease returns a field of /etc/os-release.
func (h *Host) osRelease(key string) string {
	b, _ := h.ReadFile("/etc/os-release")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// kernelFix returns the command that installs a newer kernel, where the
// distribution is known.
func (h *Host) kernelFix() string {
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "686", "ppc64le": "powerpc64le", "s390x": "s390x"}[runtime.GOARCH]
	switch codename := h.osRelease("VERSION_CODENAME"); {
	case h.osRelease("ID") == "debian" && codename != "" && arch != "":
		return fmt.Sprintf("%sapt install -t %s-backports linux-image-%s && %sreboot", h.sudo(), codename, arch, h.sudo())
	case h.osRelease("ID") == "ubuntu" && h.osRelease("VERSION_ID") != "":
		return fmt.Sprintf("%sapt install linux-generic-hwe-%s && %sreboot", h.sudo(), h.osRelease("VERSION_ID"), h.sudo())
	}
	return ""
}

// Kernel versions of the features nook needs.
var (
	minKernel     = [2]int{4, 6}  // cgroup namespaces
	overlayKernel = [2]int{5, 11} // overlayfs mounted in a user namespace
)

func checkKernel(h *Host) Finding {
	f := Finding{Name: "kernel"}
	release, _, _ := h.kernelRelease()
	switch {
	case release == "":
		f.Status, f.Detail = StatusFail, "cannot read /proc/sys/kernel/osrelease: is /proc mounted?"
		f.Fix = h.sudo() + "mount -t proc proc /proc"
	case !h.kernelAtLeast(minKernel[0], minKernel[1]):
		f.Status, f.Fix = StatusFail, h.kernelFix()
		f.Detail = fmt.Sprintf("Linux %s is older than %d.%d, which nook needs (cgroup namespaces)", release, minKernel[0], minKernel[1])
	case !h.kernelAtLeast(overlayKernel[0], overlayKernel[1]):
		f.Status, f.Fix = StatusWarn, h.kernelFix()
		f.Detail = fmt.Sprintf("Linux %s: apps on images need %d.%d (overlayfs in user namespaces); apps on the host image work",
			release, overlayKernel[0], overlayKernel[1])
	default:
		f.Status, f.Detail = StatusOK, "Linux "+release
	}
	return f
}

// User namespace sysctls.
const (
	maxUserNSPath   = "/proc/sys/user/max_user_namespaces"
	usernsClone     = "/proc/sys/kernel/unprivileged_userns_clone"             // Debian's kernels before 6.1
	apparmorUserNS  = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns" // Ubuntu 23.10 and later
	unprivilegedUID = 65534
)

func checkUserNamespaces(h *Host) Finding {
	f := Finding{Name: "user namespaces"}
	maxNS, haveMax := h.readInt(maxUserNSPath)
	clone, haveClone := h.readInt(usernsClone)
	restricted, _ := h.readInt(apparmorUserNS)

	// blocker returns the fix for the first setting that stops
	// unprivileged users, and says what it is.
	blocker := func() (why, fix string) {
		switch {
		case haveMax && maxNS == 0:
			return "user.max_user_namespaces is 0", h.sysctlFix("user.max_user_namespaces", "28633")
		case haveClone && clone == 0:
			return "kernel.unprivileged_userns_clone is 0", h.sysctlFix("kernel.unprivileged_userns_clone", "1")
		case restricted == 1:
			return "AppArmor restricts unprivileged user namespaces", h.apparmorFix()
		}
		return "", ""
	}

	selfErr := h.NewUserNS(-1)
	if selfErr != nil {
		why, fix := blocker()
		if why == "" && !haveMax {
			why = "the kernel may lack user namespaces (CONFIG_USER_NS)"
		}
		f.Status, f.Fix = StatusFail, fix
		f.Detail = joinReasons(fmt.Sprintf("cannot create a user namespace: %v", selfErr), why)
		return f
	}
	if h.Euid == 0 {
		if err := h.NewUserNS(unprivilegedUID); err != nil {
			why, fix := blocker()
			f.Status, f.Fix = StatusWarn, fix
			f.Detail = joinReasons(fmt.Sprintf("root can create user namespaces but unprivileged users cannot: %v", err), why)
			return f
		}
	}
	if restricted == 1 {
		f.Status, f.Fix = StatusWarn, h.apparmorFix()
		f.Detail = "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): " +
			"nook needs a profile that allows them"
		return f
	}
	f.Status = StatusOK
	f.Detail = "unprivileged users can create user namespaces"
	if haveMax {
		f.Detail += fmt.Sprintf(" (user.max_user_namespaces = %d)", maxNS)
	}
	return f
}

func joinReasons(detail, why string) string {
	if why == "" {
		return detail
	}
	return detail + " (" + why + ")"
}

// apparmorFix returns the command that installs an AppArmor profile letting
// nook's binary create user namespaces.
func (h *Host) apparmorFix() string {
	exe := h.Executable
	if exe == "" {
		exe = "/usr/bin/nook"
	}
	const profile = `abi <abi/4.0>,\ninclude <tunables/global>\nprofile nook %s flags=(unconfined) {\n  userns,\n}\n`
	return fmt.Sprintf("printf '%s' %s | %stee /etc/apparmor.d/nook && %sapparmor_parser -r /etc/apparmor.d/nook",
		profile, shellQuote(exe), h.sudo(), h.sudo())
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// newUserNS creates a user namespace in a child process, as uid or, when uid
// is -1, as the caller. Only the kernel can say whether it may: the child is
// /bin/true started with CLONE_NEWUSER, or for another uid unshare(1) run as
// that uid (Go applies Credential after the clone).
func newUserNS(uid int) error {
	var cmd *exec.Cmd
	if uid == -1 {
		cmd = exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		}
	} else {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			return errors.New("cannot try as another user: unshare(1) is not installed (util-linux)")
		}
		cmd = exec.Command(unshare, "--user", "/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	cmd.Dir = "/"
	return runProbe(cmd)
}

// runProbe runs cmd; its error carries the last line cmd wrote to stderr.
func runProbe(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return errors.New(strings.TrimPrefix(last, "nook: "))
	}
	return err
}

// OverlayProbe returns a Host.Overlay that runs argv, with a scratch
// directory appended, as root in new user and mount namespaces, and reports
// its failure. argv must call ProbeOverlay with that directory: nook uses
// its own binary, ["/proc/self/exe", "doctor", "--probe-overlay"].
func OverlayProbe(argv ...string) func() error {
	return func() error {
		dir, err := os.MkdirTemp("", "nook-doctor-")
		if err != nil {
			return fmt.Errorf("make a scratch directory: %w", err)
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command(argv[0], append(argv[1:], dir)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		}
		if err := runProbe(cmd); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(dir, overlayProbed)); err != nil {
			return fmt.Errorf("%s did not run the overlay probe", argv[0])
		}
		return nil
	}
}

// overlayProbed is the file ProbeOverlay leaves in its directory when it
// succeeds.
const overlayProbed = "ok"

// ProbeOverlay is the child's half of OverlayProbe. Run in new user and
// mount namespaces, it mounts an overlayfs in dir, checks that the lower
// layer shows through and that a write lands in the upper layer, removes
// what it made and leaves a file saying it succeeded.
func ProbeOverlay(dir string) error {
	lower, upper, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	// Overlayfs makes work/work mode 0; only root here can remove it.
	defer func() {
		for _, d := range []string{lower, upper, work, merged} {
			os.RemoveAll(d)
		}
	}()
	if err := os.WriteFile(filepath.Join(lower, "probe"), []byte("lower"), 0o600); err != nil {
		return err
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlayfs in a user namespace: %w", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	if b, err := os.ReadFile(filepath.Join(merged, "probe")); err != nil || string(b) != "lower" {
		return fmt.Errorf("overlayfs does not show the lower layer (%q, %v)", b, err)
	}
	if err := os.WriteFile(filepath.Join(merged, "probe"), []byte("upper"), 0o600); err != nil {
		return fmt.Errorf("write through overlayfs: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(upper, "probe")); err != nil || string(b) != "upper" {
		return fmt.Errorf("a write through overlayfs did not reach the upper layer (%q, %v)", b, err)
	}
	return os.WriteFile(filepath.Join(dir, overlayProbed), nil, 0o600)
}

func checkOverlay(h *Host) Finding {
	f := Finding{Name: "overlayfs"}
	if h.Overlay == nil {
		f.Status, f.Detail = StatusWarn, "not checked"
		return f
	}
	err := h.Overlay()
	if err == nil {
		f.Status, f.Detail = StatusOK, "overlayfs mounts in a user namespace"
		return f
	}
	f.Status, f.Detail = StatusFail, err.Error()
	filesystems, _ := h.ReadFile("/proc/filesystems")
	switch {
	case !h.kernelAtLeast(overlayKernel[0], overlayKernel[1]):
		f.Detail += fmt.Sprintf(" (Linux %d.%d or later mounts overlayfs in user namespaces)", overlayKernel[0], overlayKernel[1])
		f.Fix = h.kernelFix()
	case !bytes.Contains(filesystems, []byte("\toverlay\n")):
		f.Detail += " (the overlay module is not loaded)"
		f.Fix = fmt.Sprintf("%smodprobe overlay && echo overlay | %stee /etc/modules-load.d/nook.conf", h.sudo(), h.sudo())
	}
	return f
}

// The cgroup controllers profiles' [resources] use.
var neededControllers = []string{"cpu", "cpuset", "memory", "pids"}

// cgroupMounts reads the cgroup file systems from /proc/self/mounts: the v2
// mount point, if any, and each v1 mount point's controllers (those of its
// mount options that name a controller of the kernel's).
func (h *Host) cgroupMounts(kernel map[string]bool) (v2 string, v1 map[string][]string) {
	b, _ := h.ReadFile("/proc/self/mounts")
	v1 = map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 {
			continue
		}
		switch fields[2] {
		case "cgroup2":
			if v2 == "" || fields[1] == "/sys/fs/cgroup" {
				v2 = fields[1]
			}
		case "cgroup":
			v1[fields[1]] = nil
			for _, opt := range strings.Split(fields[3], ",") {
				if _, ok := kernel[opt]; ok {
					v1[fields[1]] = append(v1[fields[1]], opt)
				}
			}
		}
	}
	return v2, v1
}

// kernelControllers reads /proc/cgroups: controller -> enabled.
func (h *Host) kernelControllers() map[string]bool {
	b, _ := h.ReadFile("/proc/cgroups")
	enabled := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 4 && !strings.HasPrefix(fields[0], "#") {
			enabled[fields[0]] = fields[3] == "1"
		}
	}
	return enabled
}

func checkCgroups(h *Host) Finding {
	f := Finding{Name: "cgroups"}
	enabled := h.kernelControllers()
	v2, v1 := h.cgroupMounts(enabled)
	var version string
	var have []string
	switch {
	case v2 == "/sys/fs/cgroup":
		version = "v2"
		b, _ := h.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		have = strings.Fields(string(b))
	case len(v1) > 0:
		version = "v1"
		if v2 != "" {
			version = "hybrid (v1 controllers, v2 at " + v2 + ")"
		}
		for _, controllers := range v1 {
			have = append(have, controllers...)
		}
	default:
		f.Status, f.Detail = StatusFail, "no cgroup file system is mounted"
		f.Fix = h.sudo() + "mount -t cgroup2 cgroup2 /sys/fs/cgroup"
		return f
	}
	slices.Sort(have)
	have = slices.Compact(have)
	f.Status, f.Detail = StatusOK, fmt.Sprintf("%s: %s", version, strings.Join(have, " "))

	for _, c := range neededControllers {
		if slices.Contains(have, c) {
			continue
		}
		f.Status = StatusWarn
		f.Detail += fmt.Sprintf("; no %s controller, so [resources] limits that need it cannot be applied (this version of nook does not enforce limits yet)", c)
		switch {
		case f.Fix != "":
		case !enabled[c]:
			f.Fix = fmt.Sprintf(`%ssed -i 's/^GRUB_CMDLINE_LINUX="/&cgroup_enable=%s /' /etc/default/grub && %supdate-grub && %sreboot`,
				h.sudo(), c, h.sudo(), h.sudo())
		case version != "v2":
			f.Fix = fmt.Sprintf("%smkdir -p /sys/fs/cgroup/%s && %smount -t cgroup -o %s cgroup /sys/fs/cgroup/%s", h.sudo(), c, h.sudo(), c, c)
		}
	}
	if f.Status != StatusOK || h.Euid == 0 {
		return f
	}
	if version != "v2" {
		f.Status = StatusWarn
		f.Detail += "; on cgroup v1 only root can make cgroups, so [resources] limits cannot be applied for you (this version of nook does not enforce limits yet)"
		f.Fix = fmt.Sprintf(`%ssed -i 's/^GRUB_CMDLINE_LINUX="/&systemd.unified_cgroup_hierarchy=1 /' /etc/default/grub && %supdate-grub && %sreboot`,
			h.sudo(), h.sudo(), h.sudo())
		return f
	}
	b, _ := h.ReadFile("/proc/self/cgroup")
	own, _ := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
	if dir := filepath.Join("/sys/fs/cgroup", own); h.Access(dir, unix.W_OK) != nil {
		f.Status = StatusWarn
		f.Detail += fmt.Sprintf("; your cgroup %s is not delegated to you, so [resources] limits cannot be applied (this version of nook does not enforce limits yet)", own)
		f.Fix = "systemd-run --user --scope -p Delegate=yes nook run APP"
	}
	return f
}

func checkSeccomp(h *Host) Finding {
	f := Finding{Name: "seccomp"}
	status, _ := h.ReadFile("/proc/self/status")
	mode, filters := "", ""
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			mode = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Seccomp_filters:"); ok {
			filters = strings.TrimSpace(v)
		}
	}
	actions, _ := h.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	avail := strings.Fields(string(actions))
	switch {
	case mode == "":
		f.Status, f.Fix = StatusFail, h.kernelFix()
		f.Detail = "the kernel has no seccomp (CONFIG_SECCOMP is off): nook's syscall filter cannot be installed"
	case mode == "1":
		f.Status, f.Detail = StatusFail, "nook runs in seccomp strict mode, where it cannot start sandboxes"
	case !slices.Contains(avail, "errno"):
		f.Status, f.Fix = StatusFail, h.kernelFix()
		f.Detail = "the kernel's seccomp filters cannot return errors (SECCOMP_RET_ERRNO is not in actions_avail)"
	default:
		f.Status, f.Detail = StatusOK, "filters available (actions: "+strings.Join(avail, " ")+")"
		if mode == "2" {
			f.Detail += fmt.Sprintf("; nook itself already runs under %s filter(s), which also apply to sandboxes", filters)
		}
	}
	return f
}

// minLibseccomp is the libseccomp nook wants: 2.5 knows the syscalls of
// current kernels and supports every action nook's policy uses.
var minLibseccomp = [3]uint{2, 5, 0}

func checkLibseccomp(h *Host) Finding {
	f := Finding{Name: "libseccomp"}
	if h.LibseccompVersion == nil {
		f.Status, f.Detail = StatusWarn, "unknown: nook-image, which compiles seccomp filters with it, did not say its version"
		return f
	}
	major, minor, micro := h.LibseccompVersion()
	v := [3]uint{major, minor, micro}
	f.Detail = fmt.Sprintf("libseccomp %d.%d.%d", major, minor, micro)
	if slices.Compare(v[:], minLibseccomp[:]) < 0 {
		f.Status = StatusWarn
		f.Detail += fmt.Sprintf(" is older than %d.%d.%d: syscalls it does not know are left to the default action",
			minLibseccomp[0], minLibseccomp[1], minLibseccomp[2])
		// scripts/build links libseccomp statically into nook-image: a
		// newer one takes a rebuild (in nook's source tree) against a newer libseccomp-dev.
		f.Fix = h.sudo() + "apt install libseccomp-dev && scripts/build"
		return f
	}
	f.Status = StatusOK
	return f
}
