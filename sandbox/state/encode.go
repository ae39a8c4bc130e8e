package state

import (
	"encoding/json"
	"slices"
	"strconv"
)

// marshal returns json.MarshalIndent(r, "", "  "). It writes the bytes
// itself when every string of r is plain ASCII that JSON need not escape,
// as on every launch: encoding/json builds its encoders by reflection on
// first use, which cost each launch 0.15 ms. TestMarshalMatchesJSON holds
// the two to the same bytes and fails when Record gains a field.
func marshal(r *Record) ([]byte, error) {
	if b, ok := appendRecord(make([]byte, 0, 512), r); ok {
		return b, nil
	}
	return json.MarshalIndent(r, "", "  ")
}

// appendRecord appends r as marshal does, or reports false when r holds a
// string that needs escaping or a time encoding/json refuses.
func appendRecord(b []byte, r *Record) ([]byte, bool) {
	w := &jsonWriter{b: b, ok: true}
	w.open()
	w.key("schema")
	w.int(int64(r.Schema))
	w.key("id")
	w.str(r.ID)
	w.key("app")
	w.str(r.App)
	w.key("name")
	w.str(r.Name)
	if r.Version != "" {
		w.key("version")
		w.str(r.Version)
	}
	w.key("seq")
	w.int(int64(r.Seq))
	for _, p := range []struct {
		key  string
		proc Proc
	}{{"launcher", r.Launcher}, {"init", r.Init}} {
		w.key(p.key)
		w.open()
		w.key("pid")
		w.int(int64(p.proc.PID))
		w.key("startTime")
		w.uint(p.proc.StartTime)
		w.close()
	}
	w.key("bootId")
	w.str(r.BootID)
	w.key("started")
	t, err := r.Started.MarshalJSON()
	w.b, w.ok = append(w.b, t...), w.ok && err == nil
	w.key("limits")
	w.open()
	l := r.Limits
	w.omitInt("memory", l.Memory)
	w.omitInt("memorySwap", l.MemorySwap)
	w.omitInt("cpuQuota", l.CPUQuota)
	w.omitUint("cpuPeriod", l.CPUPeriod)
	if l.CPUSet != "" {
		w.key("cpuset")
		w.str(l.CPUSet)
	}
	w.omitUint("cpuWeight", l.CPUWeight)
	w.omitInt("pids", l.PIDs)
	w.omitUint("ioWeight", l.IOWeight)
	w.close()
	if r.Hostname != "" {
		w.key("hostname")
		w.str(r.Hostname)
	}
	if c := r.Cgroup; c != nil {
		w.key("cgroup")
		w.open()
		w.key("manager")
		w.str(c.Manager)
		w.key("paths")
		if c.Paths == nil {
			w.b = append(w.b, "null"...)
		} else {
			w.open()
			keys := make([]string, 0, len(c.Paths))
			for k := range c.Paths {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				w.key(k)
				w.str(c.Paths[k])
			}
			w.close()
		}
		if c.Unit != "" {
			w.key("unit")
			w.str(c.Unit)
		}
		if c.User {
			w.key("user")
			w.b = append(w.b, "true"...)
		}
		w.close()
	}
	w.close()
	return w.b, w.ok
}

// jsonWriter writes JSON laid out as json.MarshalIndent with prefix ""
// and indent "  " lays it out.
type jsonWriter struct {
	b      []byte
	ok     bool  // false once a string needed escaping
	fields []int // fields written so far in each open object
}

func (w *jsonWriter) open() {
	w.b = append(w.b, '{')
	w.fields = append(w.fields, 0)
}

func (w *jsonWriter) close() {
	n := w.fields[len(w.fields)-1]
	w.fields = w.fields[:len(w.fields)-1]
	if n > 0 {
		w.newline()
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) newline() {
	w.b = append(w.b, '\n')
	for range w.fields {
		w.b = append(w.b, "  "...)
	}
}

func (w *jsonWriter) key(k string) {
	if w.fields[len(w.fields)-1] > 0 {
		w.b = append(w.b, ',')
	}
	w.fields[len(w.fields)-1]++
	w.newline()
	w.str(k)
	w.b = append(w.b, ": "...)
}

// str writes s if encoding/json would write it unescaped: printable ASCII
// but for '"', '\\' and the HTML characters '<', '>' and '&'.
func (w *jsonWriter) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			w.ok = false
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

func (w *jsonWriter) int(v int64)   { w.b = strconv.AppendInt(w.b, v, 10) }
func (w *jsonWriter) uint(v uint64) { w.b = strconv.AppendUint(w.b, v, 10) }

func (w *jsonWriter) omitInt(k string, v int64) {
	if v != 0 {
		w.key(k)
		w.int(v)
	}
}

func (w *jsonWriter) omitUint(k string, v uint64) {
	if v != 0 {
		w.key(k)
		w.uint(v)
	}
}
