package image

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lock is a held flock on a file under locks/.
type lock struct{ f *os.File }

// lockFile takes a flock on locks/NAME: exclusive or shared. It blocks until
// the lock is free. The caller releases it with unlock.
func (s *Store) lockFile(name string, exclusive bool) (*lock, error) {
	path := s.l.LockPath(name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking image store: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking image store %s: %w", path, err)
	}
	return &lock{f: f}, nil
}

func (l *lock) unlock() {
	if l != nil {
		l.f.Close() // closing the last descriptor releases the flock
	}
}

// writing takes the store-wide lock that writers share and prune excludes.
func (s *Store) writing() (*lock, error) { return s.lockFile("store", false) }
