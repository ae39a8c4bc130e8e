package cgroup

import (
	"errors"
	"fmt"
)

// New returns the manager name asks for: Auto (systemd when a manager
// answers on D-Bus and the host is cgroup v2 unified, else cgroupfs),
// Systemd, Cgroupfs (v2 when unified, else v1), FSv2 or FSv1.
func New(name string) (Manager, error) {
	switch name {
	case Auto, "":
		if Unified() {
			if m, err := newSystemd(); err == nil {
				return m, nil
			}
		}
		return New(Cgroupfs)
	case Systemd:
		return orErr(newSystemd())
	case Cgroupfs:
		if Unified() {
			return orErr(newV2())
		}
		return orErr(newV1())
	case FSv2:
		return orErr(newV2())
	case FSv1:
		if Unified() {
			return nil, errors.New("cgroup v1 hierarchies are not mounted (this host is cgroup v2 unified)")
		}
		return orErr(newV1())
	}
	return nil, fmt.Errorf("unknown cgroup manager %q; use auto, systemd or cgroupfs", name)
}

// orErr returns a nil Manager interface, not a typed nil, on error.
func orErr[M Manager](m M, err error) (Manager, error) {
	if err != nil {
		return nil, err
	}
	return m, nil
}
