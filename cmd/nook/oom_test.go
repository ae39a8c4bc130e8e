package main

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
	"github.com/nook-sandbox/nook/sandbox/sandboxtest"
)

// notifications is a small org.freedesktop.Notifications server.
type notifications struct {
	calls chan [2]string // summary, body
}

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.calls <- [2]string{summary, body}
	return 1, nil
}

func (n *notifications) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

// TestOOMNotification: when the OOM killer ends an app and a session bus
// is there, nook calls org.freedesktop.Notifications.Notify on it. The
// test runs a real dbus-daemon, a receiver owning the name, and
// dbus-monitor, which must see the call.
func TestOOMNotification(t *testing.T) {
	needLimits(t, cgroup.Limits{Memory: 64 << 20})
	for _, bin := range []string{"dbus-daemon", "dbus-monitor"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (scripts/deps installs dbus): %v", bin, err)
		}
	}
	e := newE2E(t)
	addr := "unix:path=" + sandboxtest.ScratchDir(t) + "/bus"
	daemon := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address=1")
	daemonOut, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { daemon.Process.Kill(); daemon.Wait() }()
	if _, err := bufio.NewReader(daemonOut).ReadString('\n'); err != nil {
		t.Fatalf("dbus-daemon did not print its address: %v", err)
	}

	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recv := &notifications{calls: make(chan [2]string, 4)}
	if err := conn.Export(recv, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning org.freedesktop.Notifications: %v %v", reply, err)
	}

	mon := exec.Command("dbus-monitor", "--address", addr, "type='method_call',interface='org.freedesktop.Notifications'")
	monOut, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { mon.Process.Kill(); mon.Wait() }()
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(monOut)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// until is what dbus-monitor printed up to a line containing want.
	until := func(want string, poke func()) (string, bool) {
		var seen strings.Builder
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return seen.String(), false
				}
				seen.WriteString(l + "\n")
				if strings.Contains(l, want) {
					return seen.String(), true
				}
			case <-tick.C:
				if poke != nil {
					poke()
				}
			case <-deadline:
				return seen.String(), false
			}
		}
	}
	// The monitor is listening once it sees our own call.
	probeCall := func() {
		conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications").
			Go("org.freedesktop.Notifications.GetCapabilities", 0, nil)
	}
	if seen, ok := until("member=GetCapabilities", probeCall); !ok {
		t.Fatalf("dbus-monitor never showed a call:\n%s", seen)
	}

	e.env = append(e.env, "DBUS_SESSION_BUS_ADDRESS="+addr)
	code, stderr := e.run(runArgs(e.profile("hog", "", "/probe/probe", "hog", "1024"), "--memory", "64M")...)
	if code != 137 || !strings.Contains(stderr, "hog was killed: out of memory (limit 64 MiB)") {
		t.Fatalf("exit %d, stderr %q; want 137 and the OOM line", code, stderr)
	}
	seen, ok := until("member=Notify", nil)
	if !ok {
		t.Fatalf("dbus-monitor did not see a Notify call:\n%s", seen)
	}
	rest, _ := until(`string "hog ran out of memory"`, nil)
	if !strings.Contains(rest, `string "hog ran out of memory"`) {
		t.Errorf("the Notify call dbus-monitor saw lacks the summary \"hog ran out of memory\":\n%s%s", seen, rest)
	}
	select {
	case c := <-recv.calls:
		if c[0] != "hog ran out of memory" || !strings.Contains(c[1], "limit 64 MiB") {
			t.Errorf("notification = %q, want summary \"hog ran out of memory\" and a body naming the limit", c)
		}
	case <-time.After(5 * time.Second):
		t.Error("the receiver got no Notify call")
	}
}
