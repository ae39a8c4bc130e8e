package cgroup

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sharesFromWeight is plan.SharesFromWeight (plan imports this package's
// importer, so the formula is repeated; TestFromResourcesPlan in package
// plan's tests is not needed: the round trip below covers every weight).
func sharesFromWeight(w uint64) uint64 { return 2 + ((w-1)*262142+9998)/9999 }

func TestCPUWeightRoundTrip(t *testing.T) {
	for w := uint64(1); w <= 10000; w++ {
		s := sharesFromWeight(w)
		got := FromResources(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &s}}).CPUWeight
		if got != w {
			t.Fatalf("cpu_weight %d -> shares %d -> %d", w, s, got)
		}
	}
}

// blkioFromIOWeight is plan.BlkioWeightFromIOWeight.
func blkioFromIOWeight(w uint64) uint16 { return uint16(10 + ((w-1)*990+9999/2)/9999) }

// io_weight travels as a blkio weight (991 values for 10000 weights): it
// comes back within 11, and stable.
func TestIOWeightRoundTrip(t *testing.T) {
	for w := uint64(1); w <= 10000; w++ {
		b := blkioFromIOWeight(w)
		got := FromResources(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: &b}}).IOWeight
		if got+11 < w || got > w+11 || blkioFromIOWeight(got) != b {
			t.Fatalf("io_weight %d -> blkio %d -> %d", w, b, got)
		}
	}
}

func TestFromResources(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	u64 := func(n uint64) *uint64 { return &n }
	w := uint16(500)
	tests := []struct {
		name string
		in   *specs.LinuxResources
		want Limits
	}{
		{"nil", nil, Limits{}},
		{"memory no swap", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(512 << 20), Swap: i64(512 << 20)}},
			Limits{Memory: 512 << 20, MemorySwap: 512 << 20}},
		{"cpus", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(150000), Period: u64(100000), Cpus: "0-1"}},
			Limits{CPUQuota: 150000, CPUPeriod: 100000, CPUSet: "0-1"}},
		{"quota without period", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000)}},
			Limits{CPUQuota: 50000, CPUPeriod: 100000}},
		{"pids", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(64)}}, Limits{PIDs: 64}},
		{"blkio", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: &w}}, Limits{IOWeight: 4950}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromResources(tc.in); got != tc.want {
				t.Errorf("FromResources = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestKeysWithout(t *testing.T) {
	l := Limits{Memory: 1, MemorySwap: 1, CPUQuota: 1, CPUPeriod: 1, CPUSet: "0", CPUWeight: 1, PIDs: 1, IOWeight: 1}
	keys := l.Keys()
	if want := []string{"memory", "memory_swap", "cpus", "cpuset", "cpu_weight", "pids", "io_weight"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("Keys = %q, want %q", keys, want)
	}
	for _, k := range keys {
		l = l.Without(k)
	}
	if !l.IsZero() {
		t.Errorf("after Without every key: %+v", l)
	}
}

func TestWeightsV1(t *testing.T) {
	tests := []struct {
		weight, shares, bfq, cfq uint64
	}{
		{100, 1024, 100, 500}, {50, 512, 50, 250}, {1, 10, 1, 10}, {10000, 102400, 1000, 1000},
	}
	for _, tc := range tests {
		l := Limits{CPUWeight: tc.weight, IOWeight: tc.weight}
		if l.SharesV1() != tc.shares || l.BlkIOWeight(false) != tc.bfq || l.BlkIOWeight(true) != tc.cfq {
			t.Errorf("weight %d: shares %d bfq %d cfq %d, want %d %d %d", tc.weight,
				l.SharesV1(), l.BlkIOWeight(false), l.BlkIOWeight(true), tc.shares, tc.bfq, tc.cfq)
		}
	}
}

func TestCPUMask(t *testing.T) {
	tests := []struct {
		set  string
		want []byte
		err  bool
	}{
		{"0", []byte{1}, false}, {"0-1,3", []byte{0b1011}, false}, {"9", []byte{0, 2}, false},
		{"2-1", nil, true}, {"x", nil, true}, {"", nil, true},
	}
	for _, tc := range tests {
		got, err := cpuMask(tc.set)
		if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
			t.Errorf("cpuMask(%q) = %v, %v; want %v (error %v)", tc.set, got, err, tc.want, tc.err)
		}
	}
}

func TestNames(t *testing.T) {
	if got := UnitName("firefox@esr", "3f2a"); got != "app-nook-firefox_esr-3f2a.scope" {
		t.Errorf("UnitName = %q", got)
	}
	for n, want := range map[int64]string{512 << 20: "512 MiB", 1536 << 20: "1.5 GiB", 100: "100 B", 1 << 40: "1 TiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestUnsupportedError(t *testing.T) {
	e := &UnsupportedError{Limit: "cpus", Reason: "your systemd user manager does not delegate the cpu controller", Fix: DelegateFix}
	if !errors.Is(e, ErrUnsupported) {
		t.Error("UnsupportedError does not match ErrUnsupported")
	}
	msg := e.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "resources.cpus") || !strings.Contains(msg, "Delegate=cpu cpuset io memory pids") ||
		!strings.Contains(msg, "systemctl daemon-reload") || !strings.Contains(msg, "--ignore-unsupported-limits") {
		t.Errorf("message %q: want one line naming the limit, the drop-in, daemon-reload and the flag", msg)
	}
}

func TestScopeProperties(t *testing.T) {
	s := Spec{App: "firefox@esr", Instance: "3f2a", PID: 42, Limits: Limits{
		Memory: 2 << 30, MemorySwap: 3 << 30, CPUQuota: 150000, CPUPeriod: 100000,
		CPUSet: "0-1,3", CPUWeight: 50, PIDs: 512, IOWeight: 200}}
	props, err := scopeProperties(s)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, p := range props {
		got[p.Name] = p.Value.Value()
	}
	want := map[string]any{
		"Description": "nook sandbox for firefox@esr", "PIDs": []uint32{42}, "Delegate": true,
		"CollectMode": "inactive-or-failed", "MemoryAccounting": true, "TasksAccounting": true, "CPUAccounting": true,
		"MemoryMax": uint64(2 << 30), "MemorySwapMax": uint64(1 << 30),
		"CPUQuotaPerSecUSec": uint64(1500000), "CPUQuotaPeriodUSec": uint64(100000),
		"AllowedCPUs": []byte{0b1011}, "CPUWeight": uint64(50), "TasksMax": uint64(512),
		"IOAccounting": true, "IOWeight": uint64(200),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scope properties\n got %v\nwant %v", got, want)
	}
	// D-Bus signatures systemd checks.
	sigs := map[string]string{"PIDs": "au", "AllowedCPUs": "ay", "MemoryMax": "t", "CPUWeight": "t", "Delegate": "b", "CollectMode": "s"}
	for _, p := range props {
		if want, ok := sigs[p.Name]; ok && p.Value.Signature().String() != want {
			t.Errorf("%s has signature %s, want %s", p.Name, p.Value.Signature(), want)
		}
	}
}
