package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hog allocates and touches args[0] MiB, one MiB at a time, and reports
// how much it got (it does not return when the OOM killer ends it).
func hog(args []string) map[string]int {
	n, _ := strconv.Atoi(args[0])
	var keep [][]byte
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	runtime.KeepAlive(keep)
	return map[string]int{"allocatedMiB": len(keep)}
}

// spin busy-loops on args[0] threads for args[1] seconds of wall time,
// then prints the process's CPU time and wall time as JSON and sleeps 2 s
// so that its cgroup can still be read.
func spin(args []string) {
	threads, _ := strconv.Atoi(args[0])
	secs, _ := strconv.ParseFloat(args[1], 64)
	fmt.Println("ready")
	start := time.Now()
	end := start.Add(time.Duration(secs * float64(time.Second)))
	done := make(chan struct{})
	for i := 0; i < threads; i++ {
		go func() {
			runtime.LockOSThread()
			for time.Now().Before(end) {
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < threads; i++ {
		<-done
	}
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	json.NewEncoder(os.Stdout).Encode(map[string]float64{"cpuSeconds": cpu.Seconds(), "wallSeconds": time.Since(start).Seconds()})
	time.Sleep(2 * time.Second)
}

// forkbomb forks up to args[0] children that pause, reports how many it
// got and the error that stopped it, and kills them.
func forkbomb(args []string) map[string]any {
	n, _ := strconv.Atoi(args[0])
	runtime.LockOSThread()
	var pids []int
	var stop syscall.Errno
	for i := 0; i < n; i++ {
		pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if errno != 0 {
			stop = errno
			break
		}
		if pid == 0 {
			for { // the child only pauses: it must not touch the Go runtime
				syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
			}
		}
		pids = append(pids, int(pid))
	}
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
		unix.Wait4(pid, nil, 0, nil)
	}
	errName := ""
	if stop != 0 {
		errName = unix.ErrnoName(stop)
	}
	return map[string]any{"forked": len(pids), "error": errName}
}
