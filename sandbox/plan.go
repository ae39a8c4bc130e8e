// Package sandbox is nook's runtime: it turns a Plan (an OCI runtime spec plus
// what that spec has no field for) into namespaces, mounts, a seccomp filter,
// dropped capabilities and a supervised app process.
//
// The launcher half (Run, Go) runs on the host; the init half (initstage.c,
// C) runs inside the new namespaces as the sandbox's PID 1. The launcher
// lowers the plan to a program of mount and file operations (program.go)
// and clones its own thread, sharing its memory, into the new namespaces;
// the clone runs the program, locks itself down and starts the app. Inside
// the sandbox, PID 1 shows the launcher's command line.
package sandbox

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Plan is everything the runtime needs to start one sandbox. It is data: a
// Plan is made by a pure function (package plan) and can be printed, stored
// and compared.
type Plan struct {
	// App is the app's identity, "name" or "name@version".
	App string `json:"app"`

	// Spec is the OCI runtime spec. nook reads: Process (Args, Env, Cwd,
	// User, Terminal is ignored), Root (Path "" means an empty tmpfs root
	// built from Mounts, or, when Mounts[0] is an overlay on "/", that
	// overlay: an image root, see overlay.go; Readonly), Hostname, Mounts,
	// and Linux
	// (Namespaces, UIDMappings, GIDMappings, Seccomp, MaskedPaths,
	// ReadonlyPaths, Resources).
	Spec specs.Spec `json:"spec"`

	// Symlinks are created in the new root after Mounts, in order.
	Symlinks []Symlink `json:"symlinks,omitempty"`

	// Files are written into the sandbox and bind-mounted read-only at
	// their Path after Mounts. Their content never touches the host disk.
	Files []File `json:"files,omitempty"`

	// Network says how the network namespace is set up.
	Network Network `json:"network"`

	// Warnings are things the user should hear before the app starts
	// (an unconfined seccomp policy, say). The launcher prints them.
	Warnings []string `json:"warnings,omitempty"`
}

// Symlink is a symbolic link at Path (inside the sandbox) pointing to Target.
type Symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// File is a small file the init stage writes inside the sandbox.
type File struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
	// Data is the content. Secret says it must not be printed (an X11
	// cookie, say).
	Data   []byte `json:"data"`
	Secret bool   `json:"secret,omitempty"`
}

// Network modes.
const (
	NetworkNone = "none" // own namespace, loopback up, nothing else
	NetworkHost = "host" // the host's namespace (no CLONE_NEWNET)
)

// Network is the network attachment.
type Network struct {
	Mode string `json:"mode"`
}

// Redacted returns a copy of p whose secret files' data is replaced by a
// placeholder, for printing.
func (p *Plan) Redacted() *Plan {
	q := *p
	q.Files = make([]File, len(p.Files))
	for i, f := range p.Files {
		if f.Secret {
			f.Data = []byte("<redacted>")
		}
		q.Files[i] = f
	}
	return &q
}
