package seccomp

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nook-sandbox/nook/sandbox/seccomp/seccomptest"
)

// Resolution of includes/excludes on other architectures and kernels.
func TestParseEnvironments(t *testing.T) {
	data, err := os.ReadFile(seccomptest.Reference(t, "docker-default.json"))
	if err != nil {
		t.Fatal(err)
	}
	all := func(string) bool { return true }
	tests := []struct {
		name    string
		env     loadEnv
		arches  []specs.Arch
		allow   []string // allowed by some rule
		noAllow []string // allowed by no rule
	}{
		{"amd64", loadEnv{"amd64", specs.ArchX86_64, [2]int{6, 1}, all},
			[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"arch_prctl", "modify_ldt", "ptrace", "read"},
			[]string{"breakpoint", "set_tls", "s390_runtime_instr", "mount"}},
		{"arm64", loadEnv{"arm64", specs.ArchAARCH64, [2]int{6, 1}, all},
			[]specs.Arch{specs.ArchAARCH64, specs.ArchARM},
			[]string{"breakpoint", "set_tls", "cacheflush", "ptrace"},
			[]string{"arch_prctl", "modify_ldt"}},
		{"x86", loadEnv{"x86", specs.ArchX86, [2]int{6, 1}, all},
			nil,
			[]string{"modify_ldt"},
			[]string{"arch_prctl"}},
		{"s390x", loadEnv{"s390x", specs.ArchS390X, [2]int{6, 1}, all},
			[]specs.Arch{specs.ArchS390X, specs.ArchS390},
			[]string{"s390_runtime_instr", "clone"},
			[]string{"arch_prctl"}},
		{"old kernel", loadEnv{"amd64", specs.ArchX86_64, [2]int{4, 4}, all},
			[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"read"},
			[]string{"ptrace", "process_vm_readv"}},
		{"kernel 4.8", loadEnv{"amd64", specs.ArchX86_64, [2]int{4, 8}, all},
			[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			[]string{"ptrace"},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parse(data, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Architectures, tt.arches) {
				t.Errorf("Architectures = %v, want %v", s.Architectures, tt.arches)
			}
			allowed := map[string]bool{}
			for _, r := range s.Syscalls {
				if r.Action == specs.ActAllow {
					for _, n := range r.Names {
						allowed[n] = true
					}
				}
			}
			for _, n := range tt.allow {
				if !allowed[n] {
					t.Errorf("%s is not allowed", n)
				}
			}
			for _, n := range tt.noAllow {
				if allowed[n] {
					t.Errorf("%s is allowed", n)
				}
			}
		})
	}
}

func TestParseExcludes(t *testing.T) {
	profile := []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
		{"names": ["a"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
		{"names": ["c"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
		{"names": ["d"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "7.0"}},
		{"names": ["e"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"]}},
		{"names": ["f"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"], "minKernel": "6.1"}}]}`)
	s, err := parse(profile, loadEnv{"amd64", specs.ArchX86_64, [2]int{6, 1}, func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Syscalls {
		got = append(got, r.Names...)
	}
	if want := []string{"a", "d", "f"}; !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
}
