package profiles

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalid is wrapped by every error about a profile's contents or a
	// malformed profile reference.
	ErrInvalid = errors.New("invalid profile")

	// ErrNotFound is wrapped by the error of Find when no file answers to
	// a reference, and of Load when the file does not exist.
	ErrNotFound = errors.New("profile not found")
)

// Error is a problem with a profile's contents. It prints as one line,
// "SOURCE:LINE: MSG", or "SOURCE: MSG" when no line is to blame, and it
// wraps ErrInvalid.
type Error struct {
	Source string // the profile's file, as given to Parse
	Line   int    // from 1; 0 when the problem is not on one line
	Key    string // the key at fault, as in "display.x11"; may be empty
	Msg    string // names the key, says what is wrong and what is allowed
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Source + ": " + e.Msg
	}
	return e.Source + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

func (e *Error) Unwrap() error { return ErrInvalid }
