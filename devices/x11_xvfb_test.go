package devices_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nook-sandbox/nook/devices"
	"github.com/nook-sandbox/nook/devices/x11test"
)

// The tests here run a real Xvfb and real clients; the clients run under
// unshare(1) in new user, UTS, mount and network namespaces, with the
// display granted the way a Fragment says: only the socket, bound
// read-only on an otherwise empty /tmp/.X11-unix, and a different hostname.

// sandboxScript grants the display socket $SRC at $DST like Fragment's mount
// and then reports, for each label=xauthority argument, whether xdpyinfo
// connected ("" as xauthority: XAUTHORITY unset).
const sandboxScript = `
set -e
hostname other
mount --bind "$SRC" "$STASH"
mount -t tmpfs -o mode=1777 tmpfs /tmp/.X11-unix
touch "$DST"
mount --bind "$STASH" "$DST"
mount -o "remount,bind,$OPTS" "$DST"
grep " $DST " /proc/self/mountinfo
for try; do
	label=${try%%=*} file=${try#*=}
	if [ -n "$file" ]; then export XAUTHORITY="$file"; else unset XAUTHORITY; fi
	if out=$(xdpyinfo 2>&1 >/dev/null); then echo "$label connected"; else echo "$label refused: $out"; fi
done
`

// inSandbox runs sandboxScript and returns its output.
func inSandbox(t *testing.T, d *devices.X11Display, f devices.Fragment, tries ...string) string {
	t.Helper()
	for _, tool := range []struct{ name, pkg string }{{"unshare", "util-linux"}, {"xdpyinfo", "x11-utils"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Fatalf("%s is not installed: apt-get install %s", tool.name, tool.pkg)
		}
	}
	if len(f.Mounts) != 1 {
		t.Fatalf("fragment has %d mounts, want the display socket only", len(f.Mounts))
	}
	m := f.Mounts[0]
	stash := filepath.Join(t.TempDir(), "socket")
	if err := os.WriteFile(stash, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "bind" })
	cmd := exec.Command("unshare", append([]string{"--user", "--map-root-user", "--uts", "--mount", "--net",
		"sh", "-c", sandboxScript, "sh"}, tries...)...)
	cmd.Env = append(x11test.Environ("DISPLAY", "XAUTHORITY"),
		"SRC="+m.Source, "DST="+m.Destination, "STASH="+stash, "OPTS="+strings.Join(opts, ","),
		"DISPLAY="+f.Env["DISPLAY"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sandbox script: %v\n%s", err, out)
	}
	t.Logf("in the sandbox (display %d):\n%s", d.Number, out)
	return string(out)
}

func TestX11CookieInSandbox(t *testing.T) {
	xauth, err := exec.LookPath("xauth")
	if err != nil {
		t.Fatal("xauth is not installed: apt-get install xauth")
	}
	x := x11test.StartXvfb(t)
	dir := t.TempDir()

	// The host's Xauthority, written by xauth the way a session's is:
	// a FamilyLocal entry for this hostname.
	hostAuth := filepath.Join(dir, "host.xauth")
	if out, err := exec.Command(xauth, "-q", "-f", hostAuth, "add", x.Display, devices.MITMagicCookie, hex.EncodeToString(x.Cookie)).CombinedOutput(); err != nil {
		t.Fatalf("xauth add: %v\n%s", err, out)
	}
	control := x.Command("xdpyinfo")
	control.Env = append(control.Env, "XAUTHORITY="+hostAuth)
	if out, err := control.CombinedOutput(); err != nil {
		t.Fatalf("xdpyinfo on the host with the host's Xauthority: %v\n%s", err, out)
	}
	env := map[string]string{"DISPLAY": x.Display, "XAUTHORITY": hostAuth}
	d, err := devices.ProbeX11(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Cookie) != string(x.Cookie) {
		t.Fatalf("ProbeX11 found cookie %x, want the server's %x", []byte(d.Cookie), x.Cookie)
	}

	f := d.Fragment("/run/nook")
	if len(f.Files) != 1 || f.Env["XAUTHORITY"] != f.Files[0].Path {
		t.Fatalf("fragment files %d, XAUTHORITY %q: want one Xauthority", len(f.Files), f.Env["XAUTHORITY"])
	}
	sandboxAuth := filepath.Join(dir, "sandbox.xauth")
	if err := os.WriteFile(sandboxAuth, f.Files[0].Data, 0o600); err != nil {
		t.Fatal(err)
	}
	// xauth reads the file as one wild entry for this display.
	out, err := exec.Command(xauth, "-f", sandboxAuth, "nlist").CombinedOutput()
	want := fmt.Sprintf("ffff 0000  %04x %x 0012 %x 0010 %x\n", len(fmt.Sprint(x.Number)), fmt.Sprint(x.Number),
		devices.MITMagicCookie, x.Cookie)
	if err != nil || string(out) != want {
		t.Errorf("xauth nlist of the fragment's Xauthority = %q, %v\nwant %q", out, err, want)
	}
	empty := filepath.Join(dir, "empty.xauth")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	got := inSandbox(t, d, f, "fragment="+sandboxAuth, "empty="+empty, "host="+hostAuth)
	for _, line := range []string{
		"fragment connected",
		"empty refused: ",
		// The host's entry names the host's hostname, which the sandbox
		// does not have: this is why the fragment's entry is wild.
		"host refused: ",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("sandbox output lacks %q", line)
		}
	}
	if !strings.Contains(got, f.Mounts[0].Destination+" ro,nosuid,nodev,noexec") {
		t.Errorf("the socket is not mounted read-only, nosuid, nodev, noexec in the sandbox")
	}
}

func TestX11WithoutCookie(t *testing.T) {
	x := x11test.StartXvfb(t, x11test.NoAuth())
	home := t.TempDir() // no .Xauthority
	env := map[string]string{"DISPLAY": "unix" + x.Display + ".0", "HOME": home}
	d, err := devices.ProbeX11(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if d.Cookie != nil || d.Number != x.Number {
		t.Fatalf("ProbeX11 = display %d, cookie %d bytes; want display %d, no cookie", d.Number, len(d.Cookie), x.Number)
	}
	f := d.Fragment("/run/nook")
	if len(f.Files) != 0 || f.Env["XAUTHORITY"] != "" {
		t.Fatalf("fragment without a cookie has files %d, XAUTHORITY %q", len(f.Files), f.Env["XAUTHORITY"])
	}
	if got := inSandbox(t, d, f, "none="); !strings.Contains(got, "none connected") {
		t.Errorf("a client without a cookie did not connect to a server without -auth")
	}
}

func TestProbeX11MissingSocket(t *testing.T) {
	// Display numbers this high are not used; a test could not create a
	// socket in /tmp/.X11-unix for them without being root anyway.
	env := map[string]string{"DISPLAY": ":6543"}
	_, err := devices.ProbeX11(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "no X server socket at /tmp/.X11-unix/X6543") {
		t.Errorf("ProbeX11 for a display without a socket: %v", err)
	}
}
