// Package notify sends desktop notifications (org.freedesktop.Notifications)
// over a D-Bus session bus, so that an app launched from a menu does not
// just vanish when nook ends it.
package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	dest  = "org.freedesktop.Notifications"
	path  = dbus.ObjectPath("/org/freedesktop/Notifications")
	iface = "org.freedesktop.Notifications"
)

// timeout bounds a notification: nook is exiting and must not hang on a
// bus that does not answer.
const timeout = 2 * time.Second

// SessionBus is the session bus address from $DBUS_SESSION_BUS_ADDRESS,
// "" when there is none.
func SessionBus() string { return os.Getenv("DBUS_SESSION_BUS_ADDRESS") }

// Send shows a critical notification with summary and body from app
// "nook" on the session bus at addr and returns the notification's id.
func Send(addr, summary, body string) (uint32, error) {
	if addr == "" {
		return 0, errors.New("no session bus address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("connecting to the session bus: %w", err)
	}
	defer conn.Close()
	hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(byte(2))} // critical
	var id uint32
	err = conn.Object(dest, path).CallWithContext(ctx, iface+".Notify", 0,
		"nook", uint32(0), "dialog-warning", summary, body, []string{}, hints, int32(-1)).Store(&id)
	if err != nil {
		return 0, fmt.Errorf("sending a desktop notification: %w", err)
	}
	return id, nil
}
