package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/sandbox"
	"github.com/nook-sandbox/nook/sandbox/seccomp"
)

// BuildStep is one "run" step of a recipe build, as CompileBuildStep takes
// it.
//
// A build step is not an app. It runs as uid 0 inside its own user
// namespace, where uid 0 is mapped to the single host uid HostUID (and gid
// 0 to HostGID): the owner of the image store, so that the files the step
// creates belong to whoever owns the layers below. Rootless that is the
// invoking user; when nook runs as root it is host root. Either way the
// step holds no capability in any namespace (the runtime drops them all),
// has no_new_privs and the default seccomp policy, and sees only its
// overlay root (writes go to its upper dir, never to the layers), /proc of
// its own PID namespace, a /dev of null, zero, full, random, urandom and
// tty, tmpfs on /tmp and /run, and the host's resolver files. It shares the
// host's network (apt-get needs it), including abstract Unix sockets.
type BuildStep struct {
	// Name names the build in messages and is the sandbox's hostname.
	Name string
	// Layers are the layer directories so far, base first.
	Layers []string
	// Upper and Work are the step's empty overlay directories on one file
	// system, owned by HostUID.
	Upper, Work string
	// Args is the command, e.g. ["/bin/sh", "-c", "apt-get install -y hello"].
	Args []string
	// Env is the step's environment ("KEY=VALUE"), on top of nook's
	// defaults (PATH, HOME=/root, DEBIAN_FRONTEND=noninteractive, ...).
	Env []string
	// HostUID and HostGID are what the step's uid and gid 0 are on the host.
	HostUID, HostGID uint32
	// Resolver lists the host's resolver files that exist ("/etc/resolv.conf",
	// "/etc/hosts"); they are bound read-only.
	Resolver []string
}

// BuildAptConf is the apt configuration every build step gets through
// APT_CONFIG: with a single uid mapped, apt cannot switch to its _apt user
// to download, so it downloads as root.
const BuildAptConf = "APT::Sandbox::User \"root\";\n"

// buildAptPath is where a step finds BuildAptConf; /run is a tmpfs, so the
// file never lands in a layer.
const buildAptPath = "/run/nook/apt.conf"

// CompileBuildStep turns a build step into a sandbox plan. It is pure.
func CompileBuildStep(b BuildStep) (*sandbox.Plan, error) {
	if len(b.Args) == 0 {
		return nil, errors.New("build step has no command")
	}
	if b.Upper == "" || b.Work == "" {
		return nil, errors.New("build step needs an upper and a work dir")
	}
	root, err := overlayMount(b.Layers, b.Upper, b.Work)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", b.Name, err)
	}
	pl := &sandbox.Plan{App: "build:" + b.Name, Network: sandbox.Network{Mode: sandbox.NetworkHost}}
	s := &pl.Spec
	s.Version = specs.Version
	s.Hostname = b.Name
	s.Root = &specs.Root{Path: ""}
	s.Mounts = append(append(s.Mounts, root), kernelMounts()...)
	for _, f := range b.Resolver {
		if !slices.Contains(imageEtc, f) {
			return nil, fmt.Errorf("build %s: %s is not a resolver file", b.Name, f)
		}
		s.Mounts = append(s.Mounts, bind(f, f, "ro", "nosuid", "nodev", "noexec"))
	}
	pl.Symlinks = []sandbox.Symlink{
		{Path: "/dev/ptmx", Target: "pts/ptmx"},
		{Path: "/dev/fd", Target: "/proc/self/fd"},
		{Path: "/dev/stdin", Target: "/proc/self/fd/0"},
		{Path: "/dev/stdout", Target: "/proc/self/fd/1"},
		{Path: "/dev/stderr", Target: "/proc/self/fd/2"},
	}
	pl.Files = []sandbox.File{{Path: buildAptPath, Mode: 0o644, Data: []byte(BuildAptConf)}}

	env := map[string]string{"PATH": DefaultPath}
	for _, kv := range b.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	for k, v := range map[string]string{
		"HOME": "/root", "USER": "root", "LOGNAME": "root", "container": "nook",
		"DEBIAN_FRONTEND": "noninteractive", "APT_CONFIG": buildAptPath,
	} {
		env[k] = v
	}
	s.Process = &specs.Process{
		Args:            slices.Clone(b.Args),
		Env:             envList(env),
		Cwd:             "/",
		User:            specs.User{UID: 0, GID: 0},
		NoNewPrivileges: true,
		Capabilities: &specs.LinuxCapabilities{
			Bounding: []string{}, Effective: []string{}, Inheritable: []string{},
			Permitted: []string{}, Ambient: []string{},
		},
	}
	l := &specs.Linux{
		UIDMappings:   []specs.LinuxIDMapping{{ContainerID: 0, HostID: b.HostUID, Size: 1}},
		GIDMappings:   []specs.LinuxIDMapping{{ContainerID: 0, HostID: b.HostGID, Size: 1}},
		MaskedPaths:   procMasks(),
		ReadonlyPaths: slices.Clone(ReadonlyPaths),
		Seccomp:       seccomp.Default(seccomp.Options{}),
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.UserNamespace, specs.MountNamespace, specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace} {
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: ns})
	}
	s.Linux = l
	return pl, nil
}

// procMasks are the entries of MaskedPaths under /proc: a build step's
// /etc is its image's own.
func procMasks() []string {
	var out []string
	for _, p := range MaskedPaths {
		if strings.HasPrefix(p, "/proc/") {
			out = append(out, p)
		}
	}
	return out
}
