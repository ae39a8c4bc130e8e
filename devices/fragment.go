// Package devices holds nook's passthroughs: drivers that turn a grant in a
// profile (an X11 display, audio, a webcam, a GPU, extra device nodes) into a
// plan fragment — mounts, environment and files — for the sandbox.
//
// A driver has two halves: a Probe that reads the host (I/O at the edge) and
// a pure method that turns what was probed into a Fragment.
package devices

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/sandbox"
)

// Fragment is a driver's contribution to a plan. The plan compiler appends
// Mounts after the base filesystem, sets Env (a driver's value wins over the
// profile's env only where the profile does not set the key) and adds Files.
type Fragment struct {
	Mounts []specs.Mount
	Env    map[string]string
	Files  []sandbox.File
}
