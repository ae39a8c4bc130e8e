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
// signal with a round trip to the goroutine that owns the signal mask).
// nook run calls CatchSignals first thing, while the init stage it
// prestarted builds the sandbox; Run, when nobody did, notifies in a
// goroutine beside the launch; Stop runs after Run.
type relay struct {
	sigs     chan os.Signal
	notified chan struct{} // closed once Notify has returned
	taken    chan struct{} // closed when Run forwards what arrives
	mu       sync.Mutex
	running  bool // Run forwards what arrives (else it is the default's)
}

var early struct {
	sync.Mutex
	r *relay
}

func newRelay(wait bool) *relay {
	r := &relay{sigs: make(chan os.Signal, 8), notified: make(chan struct{}), taken: make(chan struct{})}
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
// app. (A goroutine for it waited milliseconds for a thread while nook run
// was pinned to one CPU, so it notifies at once.) Until Run has started
// the sandbox, a signal caught ends nook as its default action would
// (SIGWINCH is ignored); once it has, the app gets it. Call it once,
// before Run.
func CatchSignals() {
	r := newRelay(true)
	go func() {
		for {
			var s os.Signal
			select {
			case <-r.taken:
				return
			case s = <-r.sigs:
			}
			r.mu.Lock()
			if r.running {
				// Run took over meanwhile: the app gets it.
				r.mu.Unlock()
				select {
				case r.sigs <- s:
				default:
				}
				return
			}
			if s != unix.SIGWINCH {
				signal.Reset(s)
				unix.Kill(os.Getpid(), s.(syscall.Signal)) // with r.mu held: Run does not take over
			}
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
	close(r.taken)
}

// stop ends catching, beside whatever the caller does next.
func (r *relay) stop() {
	go func() {
		<-r.notified
		signal.Stop(r.sigs)
	}()
}
