package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/notify"
)

// notifyOOM sends a desktop notification when err says the OOM killer
// ended the app and a session bus is there ($DBUS_SESSION_BUS_ADDRESS).
// A notification that cannot be sent costs a warning.
func notifyOOM(err error) {
	var oom *sandbox.OOMError
	addr := notify.SessionBus()
	if !errors.As(err, &oom) || addr == "" {
		return
	}
	if _, err := notify.Send(addr, oom.App+" ran out of memory", oom.Error()+". Raise resources.memory in its profile or run it with --memory."); err != nil {
		fmt.Fprintln(os.Stderr, "nook: warning:", err)
	}
}
