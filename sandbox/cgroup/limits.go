package cgroup

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits are a sandbox's resource limits in the profile's units. A zero
// field means no limit.
type Limits struct {
	// Memory is the hard memory limit in bytes.
	Memory int64 `json:"memory,omitempty"`
	// MemorySwap is memory plus swap in bytes; equal to Memory means no
	// swap. 0 means not set (the kernel's default).
	MemorySwap int64 `json:"memorySwap,omitempty"`
	// CPUQuota is the CFS quota in µs per CPUPeriod µs: cores = quota/period.
	CPUQuota  int64  `json:"cpuQuota,omitempty"`
	CPUPeriod uint64 `json:"cpuPeriod,omitempty"`
	// CPUSet lists the CPUs the app may run on, as in "0-1,3".
	CPUSet string `json:"cpuset,omitempty"`
	// CPUWeight is the cgroup v2 cpu.weight, 1..10000 (100 is the
	// default of every group). On cgroup v1 it is written as cpu.shares =
	// CPUWeight*1024/100, so that both default to the same share: Docker's
	// "-c 512" (half the v1 default of 1024) is CPUWeight 50.
	CPUWeight uint64 `json:"cpuWeight,omitempty"`
	// PIDs is the most tasks (processes and threads) at once.
	PIDs int64 `json:"pids,omitempty"`
	// IOWeight is the cgroup v2 io.weight, 1..10000 (default 100). On
	// cgroup v1 it is the blkio weight BlkIOWeight gives.
	IOWeight uint64 `json:"ioWeight,omitempty"`
}

// FromResources turns the plan's OCI resources into Limits; nil means no
// limits. The plan carries cpu_weight as OCI shares in runc's encoding
// (plan.SharesFromWeight) and io_weight as a blkio weight
// (plan.BlkioWeightFromIOWeight); FromResources maps both back to cgroup v2
// weights: exactly for cpu_weight, to within 1% for io_weight.
func FromResources(r *specs.LinuxResources) Limits {
	var l Limits
	if r == nil {
		return l
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			l.Memory = *m.Limit
		}
		if m.Swap != nil && *m.Swap > 0 {
			l.MemorySwap = *m.Swap
		}
	}
	if c := r.CPU; c != nil {
		if c.Quota != nil && *c.Quota > 0 {
			l.CPUQuota = *c.Quota
			l.CPUPeriod = 100000
			if c.Period != nil && *c.Period > 0 {
				l.CPUPeriod = *c.Period
			}
		}
		l.CPUSet = c.Cpus
		if c.Shares != nil && *c.Shares >= 2 {
			l.CPUWeight = 1 + (*c.Shares-2)*9999/262142
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		l.PIDs = *p.Limit
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight >= 10 {
		l.IOWeight = 1 + (uint64(*b.Weight)-10)*9999/990
	}
	return l
}

// IsZero reports whether l sets no limit: then nook makes no group.
func (l Limits) IsZero() bool { return l == Limits{} }

// CPUs is the quota in cores, 0 when unset.
func (l Limits) CPUs() float64 {
	if l.CPUQuota <= 0 || l.CPUPeriod == 0 {
		return 0
	}
	return float64(l.CPUQuota) / float64(l.CPUPeriod)
}

// Keys lists the profile keys l sets, in profile order.
func (l Limits) Keys() []string {
	var k []string
	add := func(set bool, key string) {
		if set {
			k = append(k, key)
		}
	}
	add(l.Memory > 0, "memory")
	add(l.MemorySwap > 0, "memory_swap")
	add(l.CPUQuota > 0, "cpus")
	add(l.CPUSet != "", "cpuset")
	add(l.CPUWeight > 0, "cpu_weight")
	add(l.PIDs > 0, "pids")
	add(l.IOWeight > 0, "io_weight")
	return k
}

// Without returns l with the limit named by profile key cleared.
func (l Limits) Without(key string) Limits {
	switch key {
	case "memory":
		l.Memory = 0
	case "memory_swap":
		l.MemorySwap = 0
	case "cpus":
		l.CPUQuota, l.CPUPeriod = 0, 0
	case "cpuset":
		l.CPUSet = ""
	case "cpu_weight":
		l.CPUWeight = 0
	case "pids":
		l.PIDs = 0
	case "io_weight":
		l.IOWeight = 0
	}
	return l
}

// SharesV1 is the cgroup v1 cpu.shares for CPUWeight: weight*1024/100,
// rounded, so that the defaults (100 and 1024) agree.
func (l Limits) SharesV1() uint64 { return (l.CPUWeight*1024 + 50) / 100 }

// BlkIOWeight is the cgroup v1 weight for IOWeight: for BFQ's
// blkio.bfq.weight (1..1000, default 100) the same number, at most 1000;
// for CFQ's blkio.weight (10..1000, default 500) five times it, within
// 10..1000. Both keep "default" meaning default.
func (l Limits) BlkIOWeight(cfq bool) uint64 {
	if cfq {
		return min(max(l.IOWeight*5, 10), 1000)
	}
	return min(l.IOWeight, 1000)
}

// controllers are the cgroup controllers the limits in l need, by profile
// key, using cgroup v2's names (memory, cpu, cpuset, pids, io).
func (l Limits) controllers() map[string]string {
	c := map[string]string{}
	for _, k := range l.Keys() {
		c[k] = controllerOf[k]
	}
	return c
}

var controllerOf = map[string]string{
	"memory": "memory", "memory_swap": "memory", "cpus": "cpu", "cpu_weight": "cpu",
	"cpuset": "cpuset", "pids": "pids", "io_weight": "io",
}

// FormatBytes writes n the way nook's messages do: "512 MiB", "1.5 GiB".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	s := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", f), "0"), ".")
	return s + " " + units[i]
}
