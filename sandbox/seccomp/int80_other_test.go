//go:build !amd64

package seccomp_test

const haveInt80 = false

func int80Probe(probe) outcome { return outcome{Err: "int 0x80 probes need amd64"} }
