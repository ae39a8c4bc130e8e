// Package profiles is nook's profile schema: it parses, validates and finds
// the TOML files that say what an app is and what it may reach.
//
// A Profile is plain data. It knows nothing of namespaces or syscalls; the
// plan package compiles it into a sandbox plan.
package profiles

// Values of Display.X11.
const (
	X11None   = "none"   // no X server is reachable
	X11Host   = "host"   // the host's display socket and an own cookie
	X11Nested = "nested" // a nested X server (not supported yet)
)

// Values of Network.Mode.
const (
	NetworkNone   = "none"   // own network namespace with only loopback
	NetworkHost   = "host"   // the host's network namespace
	NetworkBridge = "bridge" // own namespace attached to a bridge (not supported yet)
)

// Values of Filesystem.Home and Filesystem.Root.
const (
	Persistent = "persistent"
	Ephemeral  = "ephemeral"
)

// Values of Security.Seccomp other than a path to a JSON profile.
const (
	SeccompDefault    = "default"
	SeccompUnconfined = "unconfined"
)

// ImageHost is the value of Profile.Image that runs the app on the host's
// /usr, read-only.
const ImageHost = "host"

// Profile is one app's profile after parsing and validation. Every field has
// its safe default filled in: the zero grant is "nothing".
//
// Parse and Format read and write profiles; the toml struct tags below do
// not describe the file format.
type Profile struct {
	Name        string            `toml:"name"`
	Version     string            `toml:"version"`
	Description string            `toml:"description"`
	Command     []string          `toml:"command"`
	Image       string            `toml:"image"`
	Env         map[string]string `toml:"env"`

	Display    Display    `toml:"display"`
	Audio      Audio      `toml:"audio"`
	Devices    Devices    `toml:"devices"`
	Resources  Resources  `toml:"resources"`
	Network    Network    `toml:"network"`
	Filesystem Filesystem `toml:"filesystem"`
	Security   Security   `toml:"security"`
	Desktop    Desktop    `toml:"desktop"`

	// Source says where the profile was read from: a file path, or
	// "builtin:NAME.toml" for a profile embedded in nook. Not a TOML key.
	Source string `toml:"-"`
}

// ID is the app's identity: "name" or "name@version". It names the app's
// home directory, hostname and instance.
func (p *Profile) ID() string {
	if p.Version == "" {
		return p.Name
	}
	return p.Name + "@" + p.Version
}

// Display says which display servers the app may reach.
type Display struct {
	X11     string `toml:"x11"`     // X11None (default), X11Host or X11Nested
	Wayland bool   `toml:"wayland"` // parsed; not supported yet
}

// Audio says which sound systems the app may reach.
type Audio struct {
	Pulse bool `toml:"pulse"`
	ALSA  bool `toml:"alsa"`
}

// Devices lists device passthroughs.
type Devices struct {
	Webcam bool     `toml:"webcam"`
	GPU    bool     `toml:"gpu"`
	Extra  []string `toml:"extra"`
}

// Resources are the app's limits. A zero value means "no limit".
type Resources struct {
	Memory     int64   // bytes, from a size such as "512M" or "2G"
	MemorySwap int64   // bytes of memory plus swap; -1 when unset, 0 means no swap
	CPUs       float64 // CPU quota in cores, > 0
	CPUSet     string  // CPUs the app may run on, as in "0-1,3"
	CPUWeight  uint64  // relative CPU share, 1..10000
	PIDs       int64   // most tasks at once
	IOWeight   uint64  // relative IO share, 1..10000
}

// Network says how the app reaches the network.
type Network struct {
	Mode  string   // NetworkNone (default), NetworkHost or NetworkBridge
	Ports []string // "8080:80/tcp", with bridge only
}

// Filesystem says what of the host's files the app sees.
type Filesystem struct {
	Home   string  // Persistent (default) or Ephemeral
	Root   string  // Persistent (default) or Ephemeral; images only
	Mounts []Mount // extra binds, in order
}

// Mount binds a host path into the sandbox.
type Mount struct {
	// Source is a host path: absolute, or "~" or starting with "~/" for
	// the invoking user's home. Parse ensures it is clean, without "..".
	Source string
	// Target is a path inside the sandbox: absolute, or "~" or starting
	// with "~/" for the app's home. Parse ensures it is clean, without "..".
	Target string
	// ReadWrite is true for mode = "rw"; the default is read-only.
	ReadWrite bool
}

// Security says how the app is confined.
type Security struct {
	// Seccomp is SeccompDefault, SeccompUnconfined or the path of a
	// Docker/OCI seccomp JSON profile (relative paths are relative to the
	// profile's directory and made absolute by the parser).
	Seccomp       string
	AllowSyscalls []string
	DenySyscalls  []string
	// NestedSandbox lets the app create namespaces (browsers need it).
	NestedSandbox bool
}

// Desktop is the app's menu entry.
type Desktop struct {
	Name       string
	Icon       string
	Categories []string
	MimeTypes  []string
}
