// Package cgroup puts a sandbox in a control group and applies its resource
// limits. Three managers share one interface: systemd (a transient scope
// over D-Bus), cgroupfs v2 and cgroupfs v1 (files written directly).
// Choose one with New; reopen a running sandbox's group from another
// process with Open and the Ref the creator stored.
package cgroup

import (
	"errors"
	"fmt"
	"strings"
)

// Manager names, as given to New and stored in Ref.Manager.
const (
	Auto     = "auto"     // New only: systemd, else cgroupfs
	Systemd  = "systemd"  // transient scope on the system or user manager
	Cgroupfs = "cgroupfs" // New only: cgroupfs v2 when unified, else v1
	FSv2     = "cgroupfs-v2"
	FSv1     = "cgroupfs-v1"
)

// ErrUnsupported is wrapped by every *UnsupportedError: a limit this
// manager cannot apply on this host for this user.
var ErrUnsupported = errors.New("limit not supported")

// UnsupportedError says which limit cannot be applied, why, and the fix.
// Its message is one line.
type UnsupportedError struct {
	Limit  string // the profile key: "memory", "cpus", "cpuset", ...
	Reason string
	Fix    string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("cannot apply resources.%s: %s; fix: %s (or pass --ignore-unsupported-limits to run without it)", e.Limit, e.Reason, e.Fix)
}

func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// Spec is what Manager.Create makes: a group for one sandbox.
type Spec struct {
	// App is "name" or "name@version"; Instance tells apart several
	// sandboxes of one app ([a-zA-Z0-9_-]+).
	App, Instance string
	// PID is placed in the group before Create returns: the sandbox's
	// init stage, which waits for it. Must be > 0.
	PID    int
	Limits Limits
}

// Manager creates groups.
type Manager interface {
	// Name is the manager's name (Systemd, FSv2 or FSv1).
	Name() string
	// Check returns one *UnsupportedError per limit in l this manager
	// cannot apply, and nil when it can apply them all. It changes nothing.
	Check(l Limits) []*UnsupportedError
	// Create makes the group, applies s.Limits and places s.PID in it.
	// Limits Check refuses make Create fail; drop them first
	// (Limits.Without). On error nothing is left behind. The caller
	// destroys the group.
	Create(s Spec) (Group, error)
}

// Group is one sandbox's control group.
type Group interface {
	// Ref is what Open needs to find the group again.
	Ref() Ref
	// Stats reads the group's counters now. A group that is gone returns
	// an error wrapping ErrNotExist: a systemd scope goes as soon as its
	// last process exits.
	Stats() (Stats, error)
	// OOMKills is how many processes the OOM killer killed in the group.
	// The group Create returned still answers after a systemd scope is
	// gone, with what it saw while the scope lived.
	OOMKills() (uint64, error)
	// Kill sends SIGKILL to every process in the group and returns when
	// the group is empty (or after a few seconds, with an error).
	Kill() error
	// Destroy kills what is left and removes the group. It succeeds on a
	// group whose processes are gone and on one already removed.
	Destroy() error
}

// Ref names a group so that another nook process can reopen it. It is
// JSON-able and holds no open handles.
type Ref struct {
	// Manager is Systemd, FSv2 or FSv1.
	Manager string `json:"manager"`
	// Paths are absolute cgroupfs directories: by controller name for
	// cgroupfs-v1 ("memory", "cpu", "cpuacct", "cpuset", "pids",
	// "blkio"); under the key "unified" for cgroupfs-v2 and systemd.
	Paths map[string]string `json:"paths"`
	// Unit is the systemd scope ("app-nook-firefox-3f2a.scope"); User
	// says it lives on the user's manager rather than the system's.
	Unit string `json:"unit,omitempty"`
	User bool   `json:"user,omitempty"`
}

// Stats are a group's counters. A limit of 0 means none.
type Stats struct {
	CPUUsageNS   uint64 `json:"cpuUsageNs"`
	MemoryUsage  uint64 `json:"memoryUsage"`
	MemoryLimit  uint64 `json:"memoryLimit"`
	PIDs         uint64 `json:"pids"`
	PIDsLimit    uint64 `json:"pidsLimit"`
	IOReadBytes  uint64 `json:"ioReadBytes"`
	IOWriteBytes uint64 `json:"ioWriteBytes"`
	OOMKills     uint64 `json:"oomKills"`
}

// Open reopens the group r names. It checks that the group still exists
// (ErrNotExist otherwise, wrapped); Destroy on what it returns is safe
// either way.
func Open(r Ref) (Group, error) {
	switch r.Manager {
	case FSv1:
		return openV1(r)
	case FSv2:
		return openV2(r)
	case Systemd:
		return openSystemd(r)
	}
	return nil, fmt.Errorf("unknown cgroup manager %q in reference", r.Manager)
}

// ErrNotExist says a reopened group is gone.
var ErrNotExist = errors.New("cgroup does not exist")

// groupName is the leaf name of a sandbox's group: app and instance with
// every byte outside [a-zA-Z0-9_.-] replaced by '_' ("firefox@esr" ->
// "firefox_esr").
func groupName(app, instance string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
				return r
			}
			return '_'
		}, s)
	}
	return clean(app) + "-" + clean(instance)
}
