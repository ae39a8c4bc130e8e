package plan

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func buildStep() BuildStep {
	return BuildStep{
		Name:    "build",
		Layers:  []string{"/s/l/base", "/s/l/top"},
		Upper:   "/s/tmp/b/upper",
		Work:    "/s/tmp/b/work",
		Args:    []string{"/bin/sh", "-c", "apt-get install -y hello"},
		Env:     []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/nonexistent"},
		HostUID: 1000, HostGID: 1001,
	}
}

func TestCompileBuildStep(t *testing.T) {
	pl, err := CompileBuildStep(buildStep())
	if err != nil {
		t.Fatal(err)
	}
	s := pl.Spec
	want := specs.Mount{Destination: "/", Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=/s/l/top:/s/l/base", "upperdir=/s/tmp/b/upper", "workdir=/s/tmp/b/work", "userxattr", "nosuid", "nodev"}}
	if !reflect.DeepEqual(s.Mounts[0], want) {
		t.Errorf("root mount %+v, want %+v", s.Mounts[0], want)
	}
	if s.Process.User.UID != 0 || s.Process.User.GID != 0 {
		t.Errorf("step runs as %d:%d, want 0:0 inside", s.Process.User.UID, s.Process.User.GID)
	}
	if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}; !reflect.DeepEqual(s.Linux.UIDMappings, want) {
		t.Errorf("uid map %+v, want %+v", s.Linux.UIDMappings, want)
	}
	if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}; !reflect.DeepEqual(s.Linux.GIDMappings, want) {
		t.Errorf("gid map %+v, want %+v", s.Linux.GIDMappings, want)
	}
	c := s.Process.Capabilities
	if len(c.Bounding)+len(c.Effective)+len(c.Permitted)+len(c.Inheritable)+len(c.Ambient) != 0 || !s.Process.NoNewPrivileges {
		t.Errorf("capabilities %+v, no_new_privs %v; want none and true", c, s.Process.NoNewPrivileges)
	}
	if s.Linux.Seccomp == nil {
		t.Error("no seccomp policy")
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Error("build step has its own network namespace; it needs the host's for apt-get")
		}
	}
	for _, m := range s.Linux.MaskedPaths {
		if !strings.HasPrefix(m, "/proc/") {
			t.Errorf("masks %s: the image's /etc is its own", m)
		}
	}
	env := map[string]string{}
	for _, kv := range s.Process.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, v := range map[string]string{"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/root", "APT_CONFIG": "/run/nook/apt.conf", "DEBIAN_FRONTEND": "noninteractive"} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if len(pl.Files) != 1 || pl.Files[0].Path != "/run/nook/apt.conf" || string(pl.Files[0].Data) != BuildAptConf {
		t.Errorf("files %+v, want the apt config under /run", pl.Files)
	}
	for _, m := range s.Mounts[1:] {
		if m.Type == "bind" && !strings.HasPrefix(m.Source, "/dev/") {
			t.Errorf("host path bound without resolver files asked: %+v", m)
		}
	}
}

func TestCompileBuildStepResolver(t *testing.T) {
	b := buildStep()
	b.Resolver = []string{"/etc/resolv.conf", "/etc/hosts"}
	pl, err := CompileBuildStep(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range b.Resolver {
		if i := mountIndex(pl, f); i < 0 || pl.Spec.Mounts[i].Source != f || pl.Spec.Mounts[i].Options[1] != "ro" {
			t.Errorf("%s not bound read-only", f)
		}
	}
}

func TestCompileBuildStepErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*BuildStep)
		want   string
	}{
		{"no command", func(b *BuildStep) { b.Args = nil }, "no command"},
		{"no upper", func(b *BuildStep) { b.Upper = "" }, "upper and a work dir"},
		{"relative layer", func(b *BuildStep) { b.Layers[0] = "l/base" }, `layer directory "l/base"`},
		{"not a resolver file", func(b *BuildStep) { b.Resolver = []string{"/etc/shadow"} }, "/etc/shadow is not a resolver file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := buildStep()
			tc.change(&b)
			pl, err := CompileBuildStep(b)
			if err == nil || pl != nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CompileBuildStep: %v, %v; want an error saying %q", pl != nil, err, tc.want)
			}
		})
	}
}
