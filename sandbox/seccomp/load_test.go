package seccomp_test

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
	"github.com/nook-sandbox/nook/sandbox/seccomp/compiler"
	"github.com/nook-sandbox/nook/sandbox/seccomp/seccomptest"
)

func TestLoadDockerDefault(t *testing.T) {
	path := seccomptest.Reference(t, "docker-default.json")
	s, err := seccomp.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
		t.Errorf("default = %s %v, want SCMP_ACT_ERRNO 1", s.DefaultAction, s.DefaultErrnoRet)
	}
	if runtime.GOARCH == "amd64" {
		want := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
		if !reflect.DeepEqual(s.Architectures, want) {
			t.Errorf("Architectures = %v, want %v", s.Architectures, want)
		}
	}
	allowed := ruleNames(s, specs.ActAllow, 0)
	for _, n := range []string{"read", "write", "openat", "execve", "ioctl", "socketcall", "ptrace"} {
		if c, ok := allowed[n]; !ok || c {
			t.Errorf("%s is not unconditionally allowed", n)
		}
	}
	for _, n := range []string{"socket", "personality", "clone"} {
		if c := allowed[n]; !c {
			t.Errorf("%s is not conditionally allowed", n)
		}
	}
	// Capability-gated entries do not apply to a process without capabilities.
	for _, n := range []string{"mount", "bpf", "unshare", "setns", "reboot", "chroot", "clone3", "kcmp"} {
		if _, ok := allowed[n]; ok {
			t.Errorf("%s is allowed", n)
		}
	}
	if got := decide(s, "clone3"); !reflect.DeepEqual(got, []string{"ERRNO(38)"}) {
		t.Errorf("clone3 = %v, want ERRNO(38)", got)
	}
	if got := decide(s, "clone", unix.CLONE_NEWUSER); !reflect.DeepEqual(got, []string{"ERRNO(1)"}) {
		t.Errorf("clone(CLONE_NEWUSER) = %v, want ERRNO(1)", got)
	}
	if got := decide(s, "clone", uint64(unix.SIGCHLD)); !reflect.DeepEqual(got, []string{"ALLOW"}) {
		t.Errorf("clone(SIGCHLD) = %v, want ALLOW", got)
	}
	if _, err := compiler.Compile(s); err != nil {
		t.Errorf("Compile: %v", err)
	}
}

// The loader and the test kit's independent parser agree on what Docker
// denies.
func TestLoadAgreesWithTestKit(t *testing.T) {
	path := seccomptest.Reference(t, "docker-default.json")
	s, err := seccomp.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	denied, err := seccomptest.DockerDeniedNoCaps(path)
	if err != nil {
		t.Fatal(err)
	}
	native, err := seccomptest.NativeSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	allowed := ruleNames(s, specs.ActAllow, 0)
	var got []string
	for _, n := range native {
		if _, ok := allowed[n]; !ok {
			got = append(got, n)
		}
	}
	if !reflect.DeepEqual(got, denied) {
		t.Errorf("Load denies %v\nDockerDeniedNoCaps %v", got, denied)
	}
}

func TestLoadChromeLegacy(t *testing.T) {
	s, err := seccomp.Load(seccomptest.Reference(t, "chrome-legacy-format.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet != nil || len(s.Architectures) != 0 {
		t.Errorf("default = %s %v, arches %v; want SCMP_ACT_ERRNO, no errnoRet, no arches", s.DefaultAction, s.DefaultErrnoRet, s.Architectures)
	}
	allowed := ruleNames(s, specs.ActAllow, 0)
	if len(allowed) < 250 {
		t.Errorf("%d syscalls allowed, want the profile's ~300", len(allowed))
	}
	for _, n := range []string{"accept", "read", "clone", "unshare", "setns", "chroot", "ioctl"} {
		if c, ok := allowed[n]; !ok || c {
			t.Errorf("%s is not unconditionally allowed", n)
		}
	}
	for _, n := range []string{"mount", "kexec_load", "bpf"} {
		if _, ok := allowed[n]; ok {
			t.Errorf("%s is allowed", n)
		}
	}
	for _, r := range s.Syscalls {
		if len(r.Names) != 1 {
			t.Errorf("rule %v: legacy entries hold one name", r.Names)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		profile string
		want    string // the error after "seccomp profile PATH"
	}{
		{"syntax", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    {\"names\": [\"read\"],}\n  ]\n}\n",
			":4: invalid JSON: invalid character '}' looking for beginning of object key string"},
		{"truncated", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n", ":2: invalid JSON: unexpected end of file"},
		{"empty", "", ":1: invalid JSON: unexpected end of file"},
		{"trailing", "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}\n{}\n", ":2: unexpected data after the profile"},
		{"type", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n    \"args\": [{\"index\": \"one\", \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]\n}\n",
			`:4: syscalls.args.index: JSON string where uint is expected`},
		{"unknown action", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"},\n    {\"names\": [\"write\"], \"action\": \"SCMP_ACT_MAYBE\"}\n  ]\n}\n",
			`:5: syscalls[1]: unknown action "SCMP_ACT_MAYBE"`},
		{"unknown default action", `{"defaultAction": "SCMP_ACT_MAYBE"}`, `: defaultAction: unknown action "SCMP_ACT_MAYBE"`},
		{"missing default action", `{"syscalls": []}`, `: defaultAction is missing`},
		{"unknown operator", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_ABOUT\"}]}]}",
			`:2: syscalls[0]: unknown operator "SCMP_CMP_ABOUT"`},
		{"index", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
			`:2: syscalls[0]: argument index 6 out of range 0..5`},
		{"unknown key", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n    \"include\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}]\n}\n",
			`:4: unknown key "include"`},
		{"name and names", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n{\"name\": \"read\", \"names\": [\"write\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
			`:2: syscalls[0]: both "name" and "names" are set`},
		{"no names", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n{\"action\": \"SCMP_ACT_ALLOW\"}]}",
			`:2: syscalls[0]: no syscall names`},
		{"notify", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}",
			`:2: syscalls[0]: action SCMP_ACT_NOTIFY is not supported`},
		{"errno on allow", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"errnoRet\": 1}]}",
			`:2: syscalls[0]: errnoRet with action SCMP_ACT_ALLOW (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one)`},
		{"errno range", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}`, `: defaultAction: errnoRet 5000 out of range 0..4095`},
		{"min kernel", "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"new\"}}]}",
			`:2: syscalls[0]: minKernel: bad kernel version "new"`},
		{"flags", `{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}`, `: flags [SECCOMP_FILTER_FLAG_LOG] are not supported`},
		{"listener", `{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/x.sock"}`, `: listenerPath is not supported`},
		{"architecture", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]}`, `: unknown architecture "SCMP_ARCH_VAX"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tt.profile), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := seccomp.Load(path)
			want := "seccomp profile " + path + tt.want
			if err == nil || err.Error() != want {
				t.Errorf("error = %v\nwant    %s", err, want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "missing.json")
		_, err := seccomp.Load(path)
		if want := "seccomp profile: open " + path + ": no such file or directory"; err == nil || err.Error() != want {
			t.Errorf("error = %v, want %s", err, want)
		}
	})
}

func TestLoadSkipsUnknownSyscalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	profile := `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
		{"names": ["read", "not_a_syscall"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["also_not_a_syscall"], "action": "SCMP_ACT_ALLOW"},
		{"name": "write", "action": "SCMP_ACT_ALLOW", "args": null}]}`
	if err := os.WriteFile(path, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := seccomp.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.LinuxSyscall{
		{Names: []string{"read"}, Action: specs.ActAllow},
		{Names: []string{"write"}, Action: specs.ActAllow},
	}
	if !reflect.DeepEqual(s.Syscalls, want) {
		t.Errorf("Syscalls = %+v, want %+v", s.Syscalls, want)
	}
}
