// Package state keeps one small record per running sandbox, so that later
// nook calls can list, measure, stop and clean up sandboxes they did not
// start.
//
// A record is a JSON file named ID.json in the state directory (see
// DefaultDir). The launcher writes it atomically (temporary file, then
// rename) once the sandbox's init stage exists and removes it when the
// sandbox ends. If the launcher dies without removing it (SIGKILL), the
// record is stale: its launcher's pid is gone or belongs to another process
// (the start time in /proc/PID/stat differs). Stale records are collected,
// with what they name (cgroup, runtime files), by the next nook call and by
// nook gc.
package state

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

// Schema is the version of the record format this package writes.
const Schema = 1

// Record describes one running sandbox.
type Record struct {
	Schema int `json:"schema"`
	// ID is 12 lowercase hex digits, unique among the directory's records.
	ID string `json:"id"`
	// App is the app's identity, "name" or "name@version"; Name and
	// Version are its two halves.
	App     string `json:"app"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Seq numbers the running instances of one App from 1, smallest free
	// number first: "firefox:2" names the second one.
	Seq int `json:"seq"`
	// Launcher is the nook process that started the sandbox and owns the
	// record; Init is the sandbox's PID 1 (host pid).
	Launcher Proc `json:"launcher"`
	Init     Proc `json:"init"`
	// BootID is the kernel's boot id when the record was written: a record
	// from an earlier boot is stale whatever its pids say.
	BootID  string    `json:"bootId"`
	Started time.Time `json:"started"`
	// Limits are the limits applied to the sandbox's cgroup (zero: none).
	Limits   cgroup.Limits `json:"limits"`
	Hostname string        `json:"hostname,omitempty"`
	// Cgroup is the sandbox's cgroup, as its manager named it; nil when
	// the sandbox has none.
	Cgroup *cgroup.Ref `json:"cgroup,omitempty"`
}

// Proc identifies a process across pid reuse: its pid and its start time
// in clock ticks after boot (field 22 of /proc/PID/stat).
type Proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// Ref is the name a user may type for the record: "APP:SEQ".
func (r *Record) Ref() string { return r.App + ":" + strconv.Itoa(r.Seq) }

// SplitApp splits "name@version" into its halves.
func SplitApp(app string) (name, version string) {
	name, version, _ = strings.Cut(app, "@")
	return name, version
}

// check reports what is wrong with a record read from file name.
func (r *Record) check(name string) error {
	switch {
	case r.Schema != Schema:
		return fmt.Errorf("record schema %d, this nook reads %d", r.Schema, Schema)
	case !validID(r.ID) || r.ID+".json" != name:
		return fmt.Errorf("record id %q does not match its file name", r.ID)
	case r.App == "" || r.Seq < 1:
		return fmt.Errorf("record has no app or sequence number")
	case r.Launcher.PID < 1 || r.Init.PID < 1:
		return fmt.Errorf("record has no launcher or init pid")
	}
	return nil
}
