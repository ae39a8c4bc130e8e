package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/sandbox/cgroup"
)

// TestMarshalMatchesJSON holds marshal to json.MarshalIndent's bytes.
func TestMarshalMatchesJSON(t *testing.T) {
	// appendRecord writes the fields counted here by hand: a new field
	// must be added to it (then update the counts).
	for typ, want := range map[reflect.Type]int{
		reflect.TypeOf(Record{}):        13,
		reflect.TypeOf(Proc{}):          2,
		reflect.TypeOf(cgroup.Limits{}): 8,
		reflect.TypeOf(cgroup.Ref{}):    4,
	} {
		if n := typ.NumField(); n != want {
			t.Errorf("%v has %d fields, appendRecord writes %d: add the new ones to it", typ, n, want)
		}
	}

	started := time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC)
	base := func() *Record {
		return &Record{Schema: Schema, ID: "0123456789ab", App: "firefox", Name: "firefox", Seq: 1,
			Launcher: Proc{PID: 100, StartTime: 12345}, Init: Proc{PID: 101, StartTime: 12346},
			BootID: "6a1e0b0c-1f7e-4e2a-9b0d-0a1b2c3d4e5f", Started: started}
	}
	full := func() *Record {
		r := base()
		r.App, r.Version, r.Seq, r.Hostname = "firefox@esr", "esr", 3, "firefox"
		r.Limits = cgroup.Limits{Memory: 2 << 30, MemorySwap: 3 << 30, CPUQuota: 150000, CPUPeriod: 100000,
			CPUSet: "0-1,3", CPUWeight: 50, PIDs: 512, IOWeight: 200}
		r.Cgroup = &cgroup.Ref{Manager: "cgroupfs-v1", Paths: map[string]string{
			"pids": "/sys/fs/cgroup/pids/nook/x", "cpu": "/sys/fs/cgroup/cpu/nook/x", "memory": "/sys/fs/cgroup/memory/nook/x"},
			Unit: "app-nook-firefox-3f2a.scope", User: true}
		return r
	}
	cases := map[string]func(*Record){
		"minimal":   func(*Record) {},
		"one limit": func(r *Record) { r.Limits.PIDs = 64 },
		"cgroup": func(r *Record) {
			r.Cgroup = &cgroup.Ref{Manager: "systemd", Paths: map[string]string{"unified": "/sys/fs/cgroup/a.scope"}}
		},
		"nil paths":      func(r *Record) { r.Cgroup = &cgroup.Ref{Manager: "cgroupfs-v2"} },
		"empty paths":    func(r *Record) { r.Cgroup = &cgroup.Ref{Manager: "cgroupfs-v2", Paths: map[string]string{}} },
		"zero time":      func(r *Record) { r.Started = time.Time{} },
		"local time":     func(r *Record) { r.Started = started.In(time.FixedZone("x", 5*3600+1800)) },
		"no boot id":     func(r *Record) { r.BootID = "" },
		"html":           func(r *Record) { r.Hostname = "a<b>&c" },
		"quote":          func(r *Record) { r.App = `a"b\c` },
		"control":        func(r *Record) { r.Hostname = "a\nb\tc\x01" },
		"unicode":        func(r *Record) { r.Hostname = "héllo\u2028" },
		"invalid utf-8":  func(r *Record) { r.Hostname = "a\xffb" },
		"escaped key":    func(r *Record) { r.Cgroup = &cgroup.Ref{Manager: "m", Paths: map[string]string{"<k>": "v"}} },
		"negative limit": func(r *Record) { r.Limits.Memory = -1 },
	}
	check := func(name string, r *Record) {
		want, werr := json.MarshalIndent(r, "", "  ")
		got, gerr := marshal(r)
		if !bytes.Equal(got, want) || (gerr == nil) != (werr == nil) {
			t.Errorf("%s: marshal =\n%s (err %v)\nwant\n%s (err %v)", name, got, gerr, want, werr)
		}
	}
	for name, change := range cases {
		r := base()
		change(r)
		check(name, r)
		r = full()
		change(r)
		check("full, "+name, r)
	}
	check("year 10000", &Record{Started: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if _, ok := appendRecord(nil, full()); !ok {
		t.Error("appendRecord gave up on a plain record; launches pay for encoding/json")
	}
}
