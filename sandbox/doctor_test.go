package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// doctorHost returns a healthy host: a Debian 12 machine on Linux 6.1 with
// cgroup v2, run by uid 1000. Tests change what they look at.
func doctorHost(files map[string]string) *Host {
	base := map[string]string{
		"/proc/sys/kernel/osrelease":             "6.1.0-13-amd64\n",
		"/etc/os-release":                        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n",
		"/proc/sys/user/max_user_namespaces":     "63499\n",
		"/proc/filesystems":                      "nodev\tproc\nnodev\toverlay\n",
		"/proc/self/mounts":                      "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n",
		"/sys/fs/cgroup/cgroup.controllers":      "cpuset cpu io memory hugetlb pids rdma misc\n",
		"/proc/cgroups":                          "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\nmemory\t0\t1\t1\npids\t0\t1\t1\n",
		"/proc/self/cgroup":                      "0::/user.slice/user-1000.slice/session-2.scope\n",
		"/proc/self/status":                      "Name:\tnook\nSeccomp:\t0\nSeccomp_filters:\t0\n",
		"/proc/sys/kernel/seccomp/actions_avail": "kill_process kill_thread trap errno user_notif trace log allow\n",
	}
	for k, v := range files {
		if v == "" {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return &Host{
		Euid:       1000,
		Executable: "/usr/bin/nook",
		Getenv:     func(string) string { return "" },
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := base[name]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
		ReadDir:           func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist },
		Stat:              func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist },
		Access:            func(string, uint32) error { return nil },
		NewUserNS:         func(int) error { return nil },
		Overlay:           func() error { return nil },
		LibseccompVersion: func() (uint, uint, uint) { return 2, 5, 4 },
	}
}

// fixes used in several cases
const (
	debianKernelFix = "sudo apt install -t bookworm-backports linux-image-amd64 && sudo reboot"
	apparmorFix     = `printf 'abi <abi/4.0>,\ninclude <tunables/global>\nprofile nook %s flags=(unconfined) {\n  userns,\n}\n' /usr/bin/nook | sudo tee /etc/apparmor.d/nook && sudo apparmor_parser -r /etc/apparmor.d/nook`
)

type checkCase struct {
	name  string
	check Check
	host  *Host
	want  Finding // Name is filled in from the check
}

func runCheckCases(t *testing.T, name string, cases []checkCase) {
	t.Helper()
	for _, tt := range cases {
		tt.want.Name = name
		if got := tt.check(tt.host); got != tt.want {
			t.Errorf("%s: %s:\n got %+v\nwant %+v", name, tt.name, got, tt.want)
		}
	}
}

// withHost applies change to a fake host and returns it.
func withHost(h *Host, change func(*Host)) *Host { change(h); return h }

func TestCheckKernel(t *testing.T) {
	runCheckCases(t, "kernel", []checkCase{
		{"current", checkKernel, doctorHost(nil), Finding{Status: StatusOK, Detail: "Linux 6.1.0-13-amd64"}},
		{"5.11", checkKernel, doctorHost(map[string]string{"/proc/sys/kernel/osrelease": "5.11.0\n"}),
			Finding{Status: StatusOK, Detail: "Linux 5.11.0"}},
		{"5.10 on Debian", checkKernel, doctorHost(map[string]string{"/proc/sys/kernel/osrelease": "5.10.0-26-amd64\n",
			"/etc/os-release": "ID=debian\nVERSION_CODENAME=bullseye\n"}),
			Finding{Status: StatusWarn,
				Detail: "Linux 5.10.0-26-amd64: apps on images need 5.11 (overlayfs in user namespaces); apps on the host image work",
				Fix:    "sudo apt install -t bullseye-backports linux-image-amd64 && sudo reboot"}},
		{"4.4 on Ubuntu as root", checkKernel, withHost(doctorHost(map[string]string{"/proc/sys/kernel/osrelease": "4.4.0-210-generic\n",
			"/etc/os-release": "ID=ubuntu\nVERSION_ID=\"16.04\"\n"}), func(h *Host) { h.Euid = 0 }),
			Finding{Status: StatusFail, Detail: "Linux 4.4.0-210-generic is older than 4.6, which nook needs (cgroup namespaces)",
				Fix: "apt install linux-generic-hwe-16.04 && reboot"}},
		{"unknown distribution", checkKernel, doctorHost(map[string]string{"/proc/sys/kernel/osrelease": "5.4.0\n", "/etc/os-release": ""}),
			Finding{Status: StatusWarn, Detail: "Linux 5.4.0: apps on images need 5.11 (overlayfs in user namespaces); apps on the host image work"}},
		{"no /proc", checkKernel, doctorHost(map[string]string{"/proc/sys/kernel/osrelease": ""}),
			Finding{Status: StatusFail, Detail: "cannot read /proc/sys/kernel/osrelease: is /proc mounted?", Fix: "sudo mount -t proc proc /proc"}},
	})
}

func TestCheckUserNamespaces(t *testing.T) {
	denied := errors.New("operation not permitted")
	// onlyRoot fails for every uid but the caller (root).
	onlyRoot := func(h *Host) {
		h.Euid = 0
		h.NewUserNS = func(uid int) error {
			if uid == -1 {
				return nil
			}
			return denied
		}
	}
	runCheckCases(t, "user namespaces", []checkCase{
		{"works", checkUserNamespaces, doctorHost(nil), Finding{Status: StatusOK,
			Detail: "unprivileged users can create user namespaces (user.max_user_namespaces = 63499)"}},
		{"works as root, also for others", checkUserNamespaces, withHost(doctorHost(nil), func(h *Host) {
			h.Euid = 0
			h.NewUserNS = func(uid int) error {
				if uid != -1 && uid != unprivilegedUID {
					return fmt.Errorf("tried as %d", uid)
				}
				return nil
			}
		}), Finding{Status: StatusOK, Detail: "unprivileged users can create user namespaces (user.max_user_namespaces = 63499)"}},
		{"max_user_namespaces = 0", checkUserNamespaces, withHost(doctorHost(map[string]string{"/proc/sys/user/max_user_namespaces": "0\n"}),
			func(h *Host) { h.NewUserNS = func(int) error { return errors.New("no space left on device") } }),
			Finding{Status: StatusFail,
				Detail: "cannot create a user namespace: no space left on device (user.max_user_namespaces is 0)",
				Fix:    "echo user.max_user_namespaces=28633 | sudo tee -a /etc/sysctl.d/90-nook.conf && sudo sysctl -p /etc/sysctl.d/90-nook.conf"}},
		{"Debian's sysctl", checkUserNamespaces, withHost(doctorHost(map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0\n"}),
			func(h *Host) { h.NewUserNS = func(int) error { return denied } }),
			Finding{Status: StatusFail,
				Detail: "cannot create a user namespace: operation not permitted (kernel.unprivileged_userns_clone is 0)",
				Fix:    "echo kernel.unprivileged_userns_clone=1 | sudo tee -a /etc/sysctl.d/90-nook.conf && sudo sysctl -p /etc/sysctl.d/90-nook.conf"}},
		{"Debian's sysctl, run as root", checkUserNamespaces, withHost(doctorHost(map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0\n"}), onlyRoot),
			Finding{Status: StatusWarn,
				Detail: "root can create user namespaces but unprivileged users cannot: operation not permitted (kernel.unprivileged_userns_clone is 0)",
				Fix:    "echo kernel.unprivileged_userns_clone=1 | tee -a /etc/sysctl.d/90-nook.conf && sysctl -p /etc/sysctl.d/90-nook.conf"}},
		{"Debian's sysctl allows", checkUserNamespaces, doctorHost(map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "1\n"}),
			Finding{Status: StatusOK, Detail: "unprivileged users can create user namespaces (user.max_user_namespaces = 63499)"}},
		{"Ubuntu's AppArmor restriction", checkUserNamespaces, doctorHost(map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"}),
			Finding{Status: StatusWarn,
				Detail: "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): nook needs a profile that allows them",
				Fix:    apparmorFix}},
		{"Ubuntu without the restriction", checkUserNamespaces, doctorHost(map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "0\n"}),
			Finding{Status: StatusOK, Detail: "unprivileged users can create user namespaces (user.max_user_namespaces = 63499)"}},
		{"no user namespaces in the kernel", checkUserNamespaces, withHost(doctorHost(map[string]string{"/proc/sys/user/max_user_namespaces": ""}),
			func(h *Host) { h.NewUserNS = func(int) error { return errors.New("invalid argument") } }),
			Finding{Status: StatusFail,
				Detail: "cannot create a user namespace: invalid argument (the kernel may lack user namespaces (CONFIG_USER_NS))"}},
		{"unknown cause", checkUserNamespaces, withHost(doctorHost(nil), func(h *Host) { h.NewUserNS = func(int) error { return denied } }),
			Finding{Status: StatusFail, Detail: "cannot create a user namespace: operation not permitted"}},
		{"unknown cause, run as root", checkUserNamespaces, withHost(doctorHost(nil), onlyRoot),
			Finding{Status: StatusWarn, Detail: "root can create user namespaces but unprivileged users cannot: operation not permitted"}},
	})
}

func TestCheckOverlay(t *testing.T) {
	failing := func(h *Host) {
		h.Overlay = func() error { return errors.New("mount overlayfs in a user namespace: operation not permitted") }
	}
	runCheckCases(t, "overlayfs", []checkCase{
		{"works", checkOverlay, doctorHost(nil), Finding{Status: StatusOK, Detail: "overlayfs mounts in a user namespace"}},
		{"not checked", checkOverlay, withHost(doctorHost(nil), func(h *Host) { h.Overlay = nil }), Finding{Status: StatusWarn, Detail: "not checked"}},
		{"old kernel", checkOverlay, withHost(doctorHost(map[string]string{"/proc/sys/kernel/osrelease": "5.10.0\n"}), failing),
			Finding{Status: StatusFail,
				Detail: "mount overlayfs in a user namespace: operation not permitted (Linux 5.11 or later mounts overlayfs in user namespaces)",
				Fix:    debianKernelFix}},
		{"module not loaded", checkOverlay, withHost(doctorHost(map[string]string{"/proc/filesystems": "nodev\tproc\n"}), failing),
			Finding{Status: StatusFail,
				Detail: "mount overlayfs in a user namespace: operation not permitted (the overlay module is not loaded)",
				Fix:    "sudo modprobe overlay && echo overlay | sudo tee /etc/modules-load.d/nook.conf"}},
		{"unknown cause", checkOverlay, withHost(doctorHost(nil), failing),
			Finding{Status: StatusFail, Detail: "mount overlayfs in a user namespace: operation not permitted"}},
	})
}

func TestCheckCgroups(t *testing.T) {
	const hybridMounts = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n" +
		"cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,relatime,cpu,cpuacct 0 0\n" +
		"cgroup /sys/fs/cgroup/cpuset cgroup rw,cpuset 0 0\n" +
		"cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n" +
		"cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n" +
		"cgroup /sys/fs/cgroup/systemd cgroup rw,xattr,name=systemd 0 0\n" +
		"cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0\n"
	const v1Cgroups = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\ncpu\t1\t1\t1\ncpuacct\t1\t1\t1\nmemory\t4\t1\t1\npids\t8\t1\t1\nfreezer\t0\t1\t1\n"
	root := func(h *Host) { h.Euid = 0 }
	runCheckCases(t, "cgroups", []checkCase{
		{"v2", checkCgroups, doctorHost(nil), Finding{Status: StatusOK, Detail: "v2: cpu cpuset hugetlb io memory misc pids rdma"}},
		{"v2, not delegated", checkCgroups, withHost(doctorHost(nil), func(h *Host) {
			h.Access = func(p string, _ uint32) error {
				if p != "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope" {
					t.Errorf("Access(%q): not the own cgroup", p)
				}
				return fs.ErrPermission
			}
		}), Finding{Status: StatusWarn,
			Detail: "v2: cpu cpuset hugetlb io memory misc pids rdma; your cgroup /user.slice/user-1000.slice/session-2.scope is not delegated to you, so [resources] limits cannot be applied (this version of nook does not enforce limits yet)",
			Fix:    "systemd-run --user --scope -p Delegate=yes nook run APP"}},
		{"v2 without memory", checkCgroups, doctorHost(map[string]string{
			"/sys/fs/cgroup/cgroup.controllers": "cpuset cpu pids\n",
			"/proc/cgroups":                     "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\nmemory\t0\t1\t0\npids\t0\t1\t1\n",
		}), Finding{Status: StatusWarn,
			Detail: "v2: cpu cpuset pids; no memory controller, so [resources] limits that need it cannot be applied (this version of nook does not enforce limits yet)",
			Fix:    `sudo sed -i 's/^GRUB_CMDLINE_LINUX="/&cgroup_enable=memory /' /etc/default/grub && sudo update-grub && sudo reboot`}},
		{"hybrid as root", checkCgroups, withHost(doctorHost(map[string]string{"/proc/self/mounts": hybridMounts, "/proc/cgroups": v1Cgroups}), root),
			Finding{Status: StatusOK, Detail: "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified): cpu cpuacct cpuset memory pids"}},
		{"hybrid as a user", checkCgroups, doctorHost(map[string]string{"/proc/self/mounts": hybridMounts, "/proc/cgroups": v1Cgroups}),
			Finding{Status: StatusWarn,
				Detail: "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified): cpu cpuacct cpuset memory pids; on cgroup v1 only root can make cgroups, so [resources] limits cannot be applied for you (this version of nook does not enforce limits yet)",
				Fix:    `sudo sed -i 's/^GRUB_CMDLINE_LINUX="/&systemd.unified_cgroup_hierarchy=1 /' /etc/default/grub && sudo update-grub && sudo reboot`}},
		{"v1, pids not mounted", checkCgroups, withHost(doctorHost(map[string]string{
			"/proc/self/mounts": strings.ReplaceAll(strings.ReplaceAll(hybridMounts, "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0\n", ""),
				"cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n", ""),
			"/proc/cgroups": v1Cgroups,
		}), root), Finding{Status: StatusWarn,
			Detail: "v1: cpu cpuacct cpuset memory; no pids controller, so [resources] limits that need it cannot be applied (this version of nook does not enforce limits yet)",
			Fix:    "mkdir -p /sys/fs/cgroup/pids && mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids"}},
		{"none", checkCgroups, doctorHost(map[string]string{"/proc/self/mounts": "proc /proc proc rw 0 0\n"}),
			Finding{Status: StatusFail, Detail: "no cgroup file system is mounted", Fix: "sudo mount -t cgroup2 cgroup2 /sys/fs/cgroup"}},
	})
}

func TestCheckSeccomp(t *testing.T) {
	runCheckCases(t, "seccomp", []checkCase{
		{"available", checkSeccomp, doctorHost(nil),
			Finding{Status: StatusOK, Detail: "filters available (actions: kill_process kill_thread trap errno user_notif trace log allow)"}},
		{"already filtered", checkSeccomp, doctorHost(map[string]string{"/proc/self/status": "Seccomp:\t2\nSeccomp_filters:\t1\n"}),
			Finding{Status: StatusOK, Detail: "filters available (actions: kill_process kill_thread trap errno user_notif trace log allow); " +
				"nook itself already runs under 1 filter(s), which also apply to sandboxes"}},
		{"strict", checkSeccomp, doctorHost(map[string]string{"/proc/self/status": "Seccomp:\t1\n"}),
			Finding{Status: StatusFail, Detail: "nook runs in seccomp strict mode, where it cannot start sandboxes"}},
		{"no seccomp", checkSeccomp, doctorHost(map[string]string{"/proc/self/status": "Name:\tnook\n"}),
			Finding{Status: StatusFail, Detail: "the kernel has no seccomp (CONFIG_SECCOMP is off): nook's syscall filter cannot be installed", Fix: debianKernelFix}},
		{"no errno action", checkSeccomp, doctorHost(map[string]string{"/proc/sys/kernel/seccomp/actions_avail": ""}),
			Finding{Status: StatusFail, Detail: "the kernel's seccomp filters cannot return errors (SECCOMP_RET_ERRNO is not in actions_avail)", Fix: debianKernelFix}},
	})
}

func TestCheckLibseccomp(t *testing.T) {
	version := func(major, minor, micro uint) func(*Host) {
		return func(h *Host) { h.LibseccompVersion = func() (uint, uint, uint) { return major, minor, micro } }
	}
	runCheckCases(t, "libseccomp", []checkCase{
		{"2.5.4", checkLibseccomp, doctorHost(nil), Finding{Status: StatusOK, Detail: "libseccomp 2.5.4"}},
		{"2.6.0", checkLibseccomp, withHost(doctorHost(nil), version(2, 6, 0)), Finding{Status: StatusOK, Detail: "libseccomp 2.6.0"}},
		{"2.4.9", checkLibseccomp, withHost(doctorHost(nil), version(2, 4, 9)), Finding{Status: StatusWarn,
			Detail: "libseccomp 2.4.9 is older than 2.5.0: syscalls it does not know are left to the default action",
			Fix:    "sudo apt install libseccomp-dev && scripts/build"}},
		{"without", checkLibseccomp, withHost(doctorHost(nil), func(h *Host) { h.LibseccompVersion = nil }),
			Finding{Status: StatusWarn, Detail: "unknown: nook-image, which compiles seccomp filters with it, did not say its version"}},
	})
}

func TestApparmorFixQuotesPath(t *testing.T) {
	h := doctorHost(nil)
	h.Executable = "/opt/my nook/it's/nook"
	if got, want := h.apparmorFix(), `' '/opt/my nook/it'\''s/nook' | sudo tee`; !strings.Contains(got, want) {
		t.Errorf("apparmorFix = %s\nwant the path quoted: %s", got, want)
	}
}

var sampleFindings = []Finding{
	{Name: "kernel", Status: StatusOK, Detail: "Linux 6.1.0"},
	{Name: "user namespaces", Status: StatusFail, Detail: "cannot create a user namespace", Fix: "sudo sysctl -w x=1"},
	{Name: "display", Status: StatusWarn, Detail: "DISPLAY is not set"},
}

func TestWriteFindings(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFindings(&b, sampleFindings); err != nil {
		t.Fatal(err)
	}
	const want = "" +
		"ok    kernel           Linux 6.1.0\n" +
		"fail  user namespaces  cannot create a user namespace\n" +
		"                       fix: sudo sysctl -w x=1\n" +
		"warn  display          DISPLAY is not set\n"
	if b.String() != want {
		t.Errorf("WriteFindings:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteFindingsJSON(t *testing.T) {
	for _, tt := range []struct {
		findings []Finding
		ok       bool
	}{
		{sampleFindings, false},
		{sampleFindings[:1], true},
		{sampleFindings[2:], true}, // warnings do not fail
	} {
		var b bytes.Buffer
		if err := WriteFindingsJSON(&b, tt.findings); err != nil {
			t.Fatal(err)
		}
		var got struct {
			OK       bool      `json:"ok"`
			Findings []Finding `json:"findings"`
		}
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		if got.OK != tt.ok || !reflect.DeepEqual(got.Findings, tt.findings) {
			t.Errorf("WriteFindingsJSON round trip = %+v, want ok=%v and %+v", got, tt.ok, tt.findings)
		}
		if Failed(tt.findings) == tt.ok {
			t.Errorf("Failed(%v) = %v", tt.findings, !tt.ok)
		}
	}
	var b bytes.Buffer
	WriteFindingsJSON(&b, sampleFindings[:1])
	if want := `"status": "ok"`; !strings.Contains(b.String(), want) || strings.Contains(b.String(), `"fix"`) {
		t.Errorf("JSON of an ok finding:\n%s\nwant %s and no fix", b.String(), want)
	}
}

// TestDoctorOnThisMachine runs the real checks. User namespaces and seccomp
// are what nook cannot do without, and this machine has them.
func TestDoctorOnThisMachine(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := SystemHost()
	// The overlay probe re-executes this test binary as TestOverlayChild.
	h.Overlay = OverlayProbe(exe, "-test.run=^TestOverlayChild$")
	t.Setenv(overlayChildEnv, "1")
	h.LibseccompVersion = libseccomp.GetLibraryVersion
	got := Diagnose(h, Checks())

	var text bytes.Buffer
	WriteFindings(&text, got)
	t.Logf("nook doctor on this machine:\n%s", text.String())

	status := map[string]Status{}
	for _, f := range got {
		status[f.Name] = f.Status
		if f.Status != StatusOK && f.Detail == "" {
			t.Errorf("%s: %s without a detail", f.Name, f.Status)
		}
	}
	want := []string{"kernel", "user namespaces", "seccomp", "libseccomp"}
	if h.kernelAtLeast(overlayKernel[0], overlayKernel[1]) {
		want = append(want, "overlayfs")
	}
	for _, name := range want {
		if status[name] != StatusOK {
			t.Errorf("%s: %s, want ok", name, status[name])
		}
	}
}

const overlayChildEnv = "NOOK_TEST_OVERLAY_CHILD"

// TestOverlayChild is the child half of the overlay probe when
// TestDoctorOnThisMachine runs it; otherwise it does nothing.
func TestOverlayChild(t *testing.T) {
	if os.Getenv(overlayChildEnv) != "1" || flag.NArg() != 1 {
		return
	}
	if err := ProbeOverlay(flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func TestOverlayProbeNeedsTheChild(t *testing.T) {
	for _, tt := range []struct {
		argv []string
		err  string
	}{
		{[]string{"/bin/true"}, "/bin/true did not run the overlay probe"},
		{[]string{"/bin/sh", "-c", "echo 'nook: no overlay here' >&2; exit 1", "sh"}, "no overlay here"},
	} {
		if err := OverlayProbe(tt.argv...)(); err == nil || err.Error() != tt.err {
			t.Errorf("OverlayProbe(%q) = %v, want %q", tt.argv, err, tt.err)
		}
	}
}
