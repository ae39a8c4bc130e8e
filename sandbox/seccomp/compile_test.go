package seccomp_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nook-sandbox/nook/sandbox/seccomp"
	"github.com/nook-sandbox/nook/sandbox/seccomp/compiler"
)

func TestCompileDefault(t *testing.T) {
	for _, nested := range []bool{false, true} {
		prog, err := compiler.Compile(seccomp.Default(seccomp.Options{NestedSandbox: nested}))
		if err != nil {
			t.Fatal(err)
		}
		if len(prog) == 0 || len(prog)%8 != 0 || len(prog)/8 > unix.BPF_MAXINSNS {
			t.Fatalf("nested=%v: program of %d bytes", nested, len(prog))
		}
		t.Logf("nested=%v: %d instructions", nested, len(prog)/8)
	}
}

// The filter must check every ABI of the architecture: on amd64 the x86
// (int 0x80) and x32 ABIs too, or they bypass it. The kernel tests prove it
// with real syscalls; this checks the program's structure.
func TestCompileCoversArchitectures(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("structure check written for amd64, not %s", runtime.GOARCH)
	}
	prog, err := compiler.Compile(seccomp.Default(seccomp.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	)
	// An architecture is covered when a jump on its AUDIT_ARCH value leads
	// to loading the syscall number. x32 shares AUDIT_ARCH_X86_64;
	// libseccomp matches its syscalls by number, which carries
	// __X32_SYSCALL_BIT.
	insn := func(i int) (code uint16, jt uint8, k uint32) {
		return binary.NativeEndian.Uint16(prog[8*i:]), prog[8*i+2], binary.NativeEndian.Uint32(prog[8*i+4:])
	}
	var x86_64, i386 bool
	x32 := 0
	for i := range len(prog) / 8 {
		code, jt, k := insn(i)
		if code != jeq {
			continue
		}
		if k&^0x3ff == 0x40000000 {
			x32++
		}
		if next := i + 1 + int(jt); next < len(prog)/8 {
			if c, _, nk := insn(next); c == ld && nk == 0 { // offsetof(struct seccomp_data, nr)
				x86_64 = x86_64 || k == unix.AUDIT_ARCH_X86_64
				i386 = i386 || k == unix.AUDIT_ARCH_I386
			}
		}
	}
	if !x86_64 || !i386 || x32 < 100 {
		t.Errorf("program checks x86_64 %v, i386 %v, %d x32 syscalls; want both and over 100", x86_64, i386, x32)
	}
}

func TestCompileErrors(t *testing.T) {
	errno := uint(1)
	tests := []struct {
		name string
		s    *specs.LinuxSeccomp
		want string
	}{
		{"nil", nil, "no seccomp policy"},
		{"action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, `unknown action "SCMP_ACT_NOPE"`},
		{"rule action", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_NOPE"}}}, `syscalls[0] [read]: unknown action`},
		{"arch", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{"SCMP_ARCH_PDP11"}}, `unknown architecture`},
		{"errno", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: &errno}, `errnoRet with action SCMP_ACT_ALLOW`},
		{"no names", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Action: specs.ActAllow}}}, `no syscall names`},
	}
	for _, tt := range tests {
		_, err := compiler.Compile(tt.s)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "compile seccomp policy: ") {
			t.Errorf("%s: error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// Several args on one index are ORed (runc's reading); args on different
// indexes are ANDed. Both compile.
func TestCompileArgGroups(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo}, {Index: 0, Value: 8, Op: specs.OpEqualTo}}},
			{Names: []string{"mmap"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo}, {Index: 2, Value: 4, Op: specs.OpMaskedEqual, ValueTwo: 0}}},
			{Names: []string{"not_a_syscall", "read"}, Action: specs.ActAllow},
			{Names: []string{"write"}, Action: specs.ActErrno}, // same as the default: skipped
		},
	}
	if _, err := compiler.Compile(s); err != nil {
		t.Fatal(err)
	}
}

func TestInstallValidates(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "empty program"},
		{7, "not a multiple of 8"},
		{12, "not a multiple of 8"},
		{8 * (unix.BPF_MAXINSNS + 1), "more than BPF_MAXINSNS"},
	}
	for _, tt := range tests {
		err := seccomp.Install(make([]byte, tt.n))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Install(%d bytes) = %v, want %q", tt.n, err, tt.want)
		}
	}
}

func TestCompileCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s := seccomp.Default(seccomp.Options{})
	want, err := compiler.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := seccomp.CompileCached(s, dir, compiler.Libseccomp())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("cache miss returned a different program")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(entries) != 1 || !strings.HasSuffix(entries[0], ".bpf") {
		t.Fatalf("cache holds %v, want one .bpf entry", entries)
	}
	if got, err = seccomp.CompileCached(s, dir, compiler.Libseccomp()); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("cache hit: %v", err)
	}

	// A different policy has a different entry.
	nested := seccomp.Default(seccomp.Options{NestedSandbox: true})
	wantNested, _ := compiler.Compile(nested)
	if got, err := seccomp.CompileCached(nested, dir, compiler.Libseccomp()); err != nil || !bytes.Equal(got, wantNested) {
		t.Fatalf("nested: %v", err)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*")); len(entries) != 2 {
		t.Fatalf("cache holds %v, want two entries", entries)
	}

	// A corrupted entry is compiled again, never returned.
	data, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	data[10] ^= 0xff
	if err := os.WriteFile(entries[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	data[10] ^= 0xff
	for _, p := range []*specs.LinuxSeccomp{s, nested} {
		fresh, _ := compiler.Compile(p)
		if got, err := seccomp.CompileCached(p, dir, compiler.Libseccomp()); err != nil || !bytes.Equal(got, fresh) {
			t.Fatalf("after corruption: %v", err)
		}
	}
	if fixed, _ := os.ReadFile(entries[0]); !bytes.Equal(fixed, data) {
		t.Error("corrupted entry was not rewritten")
	}

	// A cache others can write to is refused.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := seccomp.CompileCached(s, dir, compiler.Libseccomp()); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable cache: %v", err)
	}
}

// TestCompileCachedCompiler: the compiler runs on a miss only; its version
// keys the entry; a program it returns that Install would refuse is an
// error, not an entry.
func TestCompileCachedCompiler(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s := seccomp.Default(seccomp.Options{})
	calls := 0
	counting := func(version string) seccomp.Compiler {
		return seccomp.Compiler{Libseccomp: version, Compile: func(p *specs.LinuxSeccomp) ([]byte, error) {
			calls++
			return compiler.Compile(p)
		}}
	}
	for _, step := range []struct {
		version string
		calls   int
	}{{"2.5.4", 1}, {"2.5.4", 1}, {"2.6.0", 2}, {"2.5.4", 2}} {
		if _, err := seccomp.CompileCached(s, dir, counting(step.version)); err != nil || calls != step.calls {
			t.Fatalf("libseccomp %s: %v, %d compilations; want %d", step.version, err, calls, step.calls)
		}
	}
	if _, err := seccomp.CompileCached(s, dir, seccomp.Compiler{Compile: compiler.Compile}); err == nil || !strings.Contains(err.Error(), "libseccomp version is unknown") {
		t.Errorf("without a version: %v", err)
	}
	bad := seccomp.Compiler{Libseccomp: "0.0.1", Compile: func(*specs.LinuxSeccomp) ([]byte, error) { return make([]byte, 12), nil }}
	for range 2 {
		if _, err := seccomp.CompileCached(s, dir, bad); err == nil || !strings.Contains(err.Error(), "not a multiple of 8") {
			t.Errorf("a 12-byte program: %v", err)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*")); len(entries) != 2 {
		t.Errorf("cache holds %v, want two entries", entries)
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	s := seccomp.Default(seccomp.Options{})
	for b.Loop() {
		if _, err := compiler.Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

// The launch path: Default, then a cache hit.
func BenchmarkCompileCachedDefault(b *testing.B) {
	dir := b.TempDir()
	if _, err := seccomp.CompileCached(seccomp.Default(seccomp.Options{}), dir, compiler.Libseccomp()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := seccomp.CompileCached(seccomp.Default(seccomp.Options{}), dir, compiler.Libseccomp()); err != nil {
			b.Fatal(err)
		}
	}
}
