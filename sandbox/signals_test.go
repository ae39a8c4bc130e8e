package sandbox_test

import (
	"bufio"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/sandbox"
)

// CatchSignals catches the forwarded signals early, but until Run has
// started a sandbox a signal still does what its default action would:
// SIGTERM ends nook, SIGWINCH does nothing.
func TestCatchSignalsBeforeRun(t *testing.T) {
	if os.Getenv("NOOK_TEST_CATCH_SIGNALS") == "1" {
		sandbox.CatchSignals()
		time.Sleep(200 * time.Millisecond) // Notify runs beside
		os.Stdout.WriteString("caught\n")
		time.Sleep(20 * time.Second)
		os.Exit(3) // not reached when SIGTERM ends the process
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCatchSignalsBeforeRun$")
	cmd.Env = append(os.Environ(), "NOOK_TEST_CATCH_SIGNALS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "caught\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGWINCH)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not end a process that caught signals for a Run to come")
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("the process ended with %v, want killed by SIGTERM (SIGWINCH first must not end it)", cmd.ProcessState)
	}
}
