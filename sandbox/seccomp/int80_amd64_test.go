package seccomp_test

import "github.com/nook-sandbox/nook/sandbox/seccomp/seccomptest"

const haveInt80 = true

func int80Probe(p probe) outcome {
	r, e := seccomptest.Syscall386(p.Nr, p.Args[0], p.Args[1], p.Args[2])
	return outcome{Errno: e, Value: uint64(uint32(r))}
}
