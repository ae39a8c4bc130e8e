package sandbox

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwarded are the signals init passes on to the app.
var forwarded = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// relay catches the forwarded signals for one Run. signal.Notify and
// signal.Stop cost about half a millisecond each (os/signal enables each
// signal with a round trip to the goroutine that owns the signal mask),
// so both run beside the launch: Notify from CatchSignals at the top of
// nook run (or from Run), Stop after Run.
type relay struct {
	sigs     chan os.Signal
	notified chan struct{} // closed once Notify has returned
	mu       sync.Mutex
	running  bool // Run forwards what arrives (else it is the default's)
}

var early struct {
	sync.Mutex
	r *relay
}

func newRelay(wait bool) *relay {
	r := &relay{sigs: make(chan os.Signal, 8), notified: make(chan struct{})}
	notify := func() {
		signal.Notify(r.sigs, forwarded...)
		close(r.notified)
	}
	if wait {
		notify()
	} else {
		go notify()
	}
	return r
}

// CatchSignals starts catching the signals the next Run passes on to the
// app, so that this costs the launch nothing. Until Run has started the
// sandbox, a signal caught ends nook as its default action would (SIGWINCH
// is ignored); once it has, the app gets it. Call it once, before Run.
func CatchSignals() {
	r := newRelay(true)
	go func() {
		for s := range r.sigs {
			r.mu.Lock()
			if r.running {
				// Run reads from here on: give it back.
				r.mu.Unlock()
				select {
				case r.sigs <- s:
				default:
				}
				return
			}
			if s == unix.SIGWINCH {
				r.mu.Unlock()
				continue
			}
			signal.Reset(s)
			unix.Kill(os.Getpid(), s.(syscall.Signal)) // with r.mu held: Run does not take over
			r.mu.Unlock()
		}
	}()
	early.Lock()
	early.r = r
	early.Unlock()
}

// takeRelay returns the relay CatchSignals started, or starts one.
func takeRelay() *relay {
	early.Lock()
	r := early.r
	early.r = nil
	early.Unlock()
	if r == nil {
		r = newRelay(false)
	}
	return r
}

// forward marks r as Run's: what it catches from now on goes to the app.
func (r *relay) forward() {
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
}

// stop ends catching, beside whatever the caller does next.
func (r *relay) stop() {
	go func() {
		<-r.notified
		signal.Stop(r.sigs)
	}()
}
