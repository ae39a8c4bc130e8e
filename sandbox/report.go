package sandbox

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// report is what the init stage sends back on the status descriptor, one
// line each: "pid N", "exit N" or "error CODE QUOTED-MESSAGE", the message
// quoted as Go's strconv.Unquote reads it (initstage.c, fail):
// either the app's pid (inside the sandbox) and, when the app has ended,
// a second report with Exit; or an error and the exit code nook should use.
type report struct {
	PID   int
	Error string
	Code  int
	// Exit is sent on a second line once the app has ended, with the
	// code init will exit with. Init then waits until the launcher closes
	// the go descriptor, so that the sandbox's cgroup (which a systemd
	// scope removes with its last process) can still be read.
	Exit *int
}

// parseReport parses one line of the status descriptor, with or without
// its newline.
func parseReport(line []byte) (report, error) {
	kind, arg, _ := strings.Cut(strings.TrimSuffix(string(line), "\n"), " ")
	bad := fmt.Errorf("bad status line %q from the init stage", line)
	switch kind {
	case "pid", "exit":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return report{}, bad
		}
		if kind == "pid" {
			return report{PID: n}, nil
		}
		return report{Exit: &n}, nil
	case "error":
		code, msg, ok := strings.Cut(arg, " ")
		n, err := strconv.Atoi(code)
		if !ok || err != nil {
			return report{}, bad
		}
		if msg, err = strconv.Unquote(msg); err != nil {
			return report{}, bad
		}
		return report{Error: msg, Code: n}, nil
	}
	return report{}, bad
}

// readyLine is what an init stage running a warm record reports once it
// has set up the sandbox (warm.go), before anything else.
const readyLine = "ready\n"

// exitCode maps a wait status to a shell-style exit code.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
