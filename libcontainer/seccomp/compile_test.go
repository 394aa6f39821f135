package seccomp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uptr(v uint) *uint { return &v }

func errnoRet(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

func mustCompile(t *testing.T, cfg *specs.LinuxSeccomp) *Program {
	t.Helper()
	p, err := Compile(cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func verdict(t *testing.T, p *Program, nr uintptr, args ...uint64) uint32 {
	t.Helper()
	var a [6]uint64
	copy(a[:], args)
	ret, err := p.Evaluate(int32(nr), a)
	if err != nil {
		t.Fatalf("evaluate %d: %v", nr, err)
	}
	return ret
}

func requireAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("syscall numbers in this test are amd64's")
	}
}

func TestCompileBadInput(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	cases := []struct {
		name string
		cfg  *specs.LinuxSeccomp
		want string
	}{
		{"nil", nil, "seccomp: no profile"},
		{"default action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"}, `seccomp: unknown action "SCMP_ACT_FOO"`},
		{"rule action", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_BAR"}}}, `seccomp: unknown action "SCMP_ACT_BAR"`},
		{"syscall", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{ok, {Names: []string{"foo"}, Action: specs.ActAllow}}}, `seccomp: unknown syscall "foo"`},
		{"empty name", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{""}, Action: specs.ActAllow}}}, "seccomp: empty syscall name"},
		{"arch", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}, `seccomp: unknown architecture "SCMP_ARCH_Z80"`},
		{"operator", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ABOUT"}}}}}, `seccomp: unknown operator "SCMP_CMP_ABOUT"`},
		{"arg index", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "argument index 6 out of range"},
		{"flag", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"}}, `seccomp: unknown flag "SECCOMP_FILTER_FLAG_FAST"`},
		{"errnoRet on allow", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: uptr(5)}}}, "errnoRet is only valid"},
		{"notify default", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/x"}, "cannot be the default action"},
		{"notify no listener", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}}, "need listenerPath"},
		{"no names", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Action: specs.ActAllow}}}, "has no names"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.cfg)
			if err == nil {
				t.Fatalf("compiled, want error %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, c.want)
			}
		})
	}
}

func TestActionsAndArgs(t *testing.T) {
	requireAMD64(t)
	p := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uptr(uint(unix.EPERM)),
		ListenerPath:    "/run/agent.sock",
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"uname"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES))},
			{Names: []string{"chdir"}, Action: specs.ActErrno},
			{Names: []string{"getppid"}, Action: specs.ActKill},
			{Names: []string{"getpgrp"}, Action: specs.ActKillThread},
			{Names: []string{"setsid"}, Action: specs.ActKillProcess},
			{Names: []string{"getuid"}, Action: specs.ActTrap},
			{Names: []string{"getgid"}, Action: specs.ActTrace, ErrnoRet: uptr(7)},
			{Names: []string{"geteuid"}, Action: specs.ActTrace},
			{Names: []string{"getegid"}, Action: specs.ActLog},
			{Names: []string{"mkdirat"}, Action: specs.ActNotify},
			// personality: only query (0xffffffff) and PER_LINUX (0).
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			// Two args in one rule: both must match.
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_UNIX, Op: specs.OpEqualTo}, {Index: 1, Value: unix.SOCK_STREAM, Op: specs.OpEqualTo}}},
			// Same arg twice in one rule: runc makes them alternatives.
			{Names: []string{"fchmod"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0o644, Op: specs.OpEqualTo}, {Index: 1, Value: 0o600, Op: specs.OpEqualTo}}},
			{Names: []string{"dup"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpNotEqual}}},
			{Names: []string{"dup2"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpLessThan}}},
			{Names: []string{"dup3"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpLessEqual}}},
			{Names: []string{"close"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpGreaterEqual}}},
			{Names: []string{"fsync"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpGreaterThan}}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.CLONE_NEWUSER, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			// 64-bit values are compared in full.
			{Names: []string{"lseek"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 1 << 40, Op: specs.OpEqualTo}}},
		},
	})
	eperm := errnoRet(unix.EPERM)
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	checks := []struct {
		name string
		nr   uintptr
		args []uint64
		want uint32
	}{
		{"read", unix.SYS_READ, nil, allow},
		{"errnoRet", unix.SYS_UNAME, nil, errnoRet(unix.EACCES)},
		{"errno default EPERM", unix.SYS_CHDIR, nil, eperm},
		{"kill", unix.SYS_GETPPID, nil, unix.SECCOMP_RET_KILL_THREAD},
		{"kill thread", unix.SYS_GETPGRP, nil, unix.SECCOMP_RET_KILL_THREAD},
		{"kill process", unix.SYS_SETSID, nil, unix.SECCOMP_RET_KILL_PROCESS},
		{"trap", unix.SYS_GETUID, nil, unix.SECCOMP_RET_TRAP},
		{"trace errnoRet", unix.SYS_GETGID, nil, unix.SECCOMP_RET_TRACE | 7},
		{"trace default", unix.SYS_GETEUID, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{"log", unix.SYS_GETEGID, nil, unix.SECCOMP_RET_LOG},
		{"notify", unix.SYS_MKDIRAT, nil, unix.SECCOMP_RET_USER_NOTIF},
		{"unnamed", unix.SYS_GETCWD, nil, eperm},
		{"personality 0", unix.SYS_PERSONALITY, []uint64{0}, allow},
		{"personality query", unix.SYS_PERSONALITY, []uint64{0xffffffff}, allow},
		{"personality other", unix.SYS_PERSONALITY, []uint64{8}, eperm},
		{"and both", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
		{"and first only", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_DGRAM}, eperm},
		{"and second only", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM}, eperm},
		{"same arg first", unix.SYS_FCHMOD, []uint64{3, 0o644}, allow},
		{"same arg second", unix.SYS_FCHMOD, []uint64{3, 0o600}, allow},
		{"same arg neither", unix.SYS_FCHMOD, []uint64{3, 0o777}, eperm},
		{"ne match", unix.SYS_DUP, []uint64{4}, allow},
		{"ne miss", unix.SYS_DUP, []uint64{5}, eperm},
		{"lt match", unix.SYS_DUP2, []uint64{4}, allow},
		{"lt miss", unix.SYS_DUP2, []uint64{5}, eperm},
		{"le match", unix.SYS_DUP3, []uint64{5}, allow},
		{"le miss", unix.SYS_DUP3, []uint64{6}, eperm},
		{"ge match", unix.SYS_CLOSE, []uint64{5}, allow},
		{"ge miss", unix.SYS_CLOSE, []uint64{4}, eperm},
		{"gt match", unix.SYS_FSYNC, []uint64{6}, allow},
		{"gt miss", unix.SYS_FSYNC, []uint64{5}, eperm},
		{"masked match", unix.SYS_CLONE, []uint64{unix.CLONE_NEWNS}, allow},
		{"masked miss", unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, eperm},
		{"64-bit match", unix.SYS_LSEEK, []uint64{0, 1 << 40}, allow},
		{"64-bit high half differs", unix.SYS_LSEEK, []uint64{0, 0}, eperm},
		{"newer than profile", unix.SYS_CLONE3, nil, retENOSYS},
		{"far newer", 1000, nil, retENOSYS},
	}
	for _, c := range checks {
		if got := verdict(t, p, c.nr, c.args...); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, actionName(got), actionName(c.want))
		}
	}
	if !p.Notify {
		t.Error("Notify not set for a profile with SCMP_ACT_NOTIFY")
	}
}

func TestENOSYSRules(t *testing.T) {
	requireAMD64(t)
	base := []specs.LinuxSyscall{
		{Names: []string{"read"}, Action: specs.ActAllow},
		{Names: []string{"openat2"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES))},
	}
	// Default ALLOW: unknown syscalls are allowed, no ENOSYS.
	p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: base[1:]})
	if got := verdict(t, p, unix.SYS_CLONE3); got != unix.SECCOMP_RET_ALLOW {
		t.Errorf("allow profile: clone3 got %s", actionName(got))
	}
	// Named-but-denied newest syscall keeps its errno; newer gets ENOSYS;
	// older unnamed gets the default.
	p = mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActKillProcess,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      base,
	})
	if got := verdict(t, p, unix.SYS_OPENAT2); got != errnoRet(unix.EACCES) {
		t.Errorf("openat2: got %s", actionName(got))
	}
	if got := verdict(t, p, unix.SYS_OPENAT2+1); got != retENOSYS {
		t.Errorf("openat2+1: got %s", actionName(got))
	}
	if got := verdict(t, p, unix.SYS_GETCWD); got != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("getcwd: got %s", actionName(got))
	}
	// The other architectures get their own limits.
	i386 := func(nr uint32) uint32 {
		ret, err := p.evaluateArch(unix.AUDIT_ARCH_I386, nr, [6]uint64{})
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}
	if got := i386(3); got != unix.SECCOMP_RET_ALLOW { // read on i386
		t.Errorf("i386 read: got %s", actionName(got))
	}
	if got := i386(437); got != errnoRet(unix.EACCES) {
		t.Errorf("i386 openat2: got %s", actionName(got))
	}
	if got := i386(500); got != retENOSYS {
		t.Errorf("i386 500: got %s", actionName(got))
	}
	if got := verdict(t, p, x32SyscallBit|0); got != unix.SECCOMP_RET_ALLOW { // read on x32
		t.Errorf("x32 read: got %s", actionName(got))
	}
	if got := verdict(t, p, x32SyscallBit|1000); got != retENOSYS {
		t.Errorf("x32 1000: got %s", actionName(got))
	}
	// Without x32 in the profile, x32 calls are a bad architecture.
	p = mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: base})
	if got := verdict(t, p, x32SyscallBit|0); got == unix.SECCOMP_RET_ALLOW || got == retENOSYS {
		t.Errorf("x32 read without x32: got %s", actionName(got))
	}
	// ERRNO(ENOSYS) default needs no prefix; the result is the same.
	p = mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uptr(uint(unix.ENOSYS)), Syscalls: base})
	if got := verdict(t, p, unix.SYS_CLONE3); got != retENOSYS {
		t.Errorf("enosys default: got %s", actionName(got))
	}
}

func TestNewerThanLibseccomp(t *testing.T) {
	requireAMD64(t)
	// file_setattr (469) is newer than libseccomp 2.5's table: its rule
	// lives in husk's prefix.
	p := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "file_setattr"}, Action: specs.ActAllow},
			{Names: []string{"file_getattr"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EXDEV))},
		},
	})
	if got := verdict(t, p, 469); got != unix.SECCOMP_RET_ALLOW {
		t.Errorf("file_setattr: got %s", actionName(got))
	}
	if got := verdict(t, p, 468); got != errnoRet(unix.EXDEV) {
		t.Errorf("file_getattr: got %s", actionName(got))
	}
	if got := verdict(t, p, 470); got != retENOSYS {
		t.Errorf("470: got %s", actionName(got))
	}
	if got := verdict(t, p, 467); got != errnoRet(unix.EPERM) {
		t.Errorf("467: got %s", actionName(got))
	}
	ret, err := p.evaluateArch(unix.AUDIT_ARCH_I386, 469, [6]uint64{})
	if err != nil || ret != unix.SECCOMP_RET_ALLOW {
		t.Errorf("i386 file_setattr: got %s, %v", actionName(ret), err)
	}
}

func TestProgramJSON(t *testing.T) {
	p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}})
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Program
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if !sameProgram(p, &q) {
		t.Fatal("program changed in a JSON round trip")
	}
	if q.Flags != unix.SECCOMP_FILTER_FLAG_LOG {
		t.Fatalf("flags %#x", q.Flags)
	}
}

func TestCheckCalls(t *testing.T) {
	p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActKill}}})
	if err := p.CheckCalls("execve", "close"); err != nil {
		t.Fatal(err)
	}
	err := p.CheckCalls("execve", "getpid")
	if err == nil || !strings.Contains(err.Error(), `"getpid"`) {
		t.Fatalf("got %v, want an error naming getpid", err)
	}
}

func loadFixture(t testing.TB) *specs.LinuxSeccomp {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "tests", "fixtures", "seccomp", "default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg specs.LinuxSeccomp
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return &cfg
}

func TestDefaultFixture(t *testing.T) {
	requireAMD64(t)
	cfg := loadFixture(t)
	names := 0
	for _, s := range cfg.Syscalls {
		names += len(s.Names)
	}
	if names < 280 || len(cfg.Architectures) != 3 {
		t.Fatalf("fixture has %d names and %d architectures", names, len(cfg.Architectures))
	}
	p := mustCompile(t, cfg)
	eperm := errnoRet(unix.EPERM)
	checks := []struct {
		name string
		nr   uintptr
		args []uint64
		want uint32
	}{
		{"read", unix.SYS_READ, nil, unix.SECCOMP_RET_ALLOW},
		{"execve", unix.SYS_EXECVE, nil, unix.SECCOMP_RET_ALLOW},
		{"mount", unix.SYS_MOUNT, nil, eperm},
		{"kexec_load", unix.SYS_KEXEC_LOAD, nil, eperm},
		{"personality linux", unix.SYS_PERSONALITY, []uint64{0}, unix.SECCOMP_RET_ALLOW},
		{"personality other", unix.SYS_PERSONALITY, []uint64{0x0040000 /* ADDR_NO_RANDOMIZE */}, eperm},
		{"clone thread", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_THREAD}, unix.SECCOMP_RET_ALLOW},
		{"clone newuser", unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"clone3", unix.SYS_CLONE3, nil, retENOSYS},
		{"far newer", 1000, nil, retENOSYS},
	}
	for _, c := range checks {
		if got := verdict(t, p, c.nr, c.args...); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, actionName(got), actionName(c.want))
		}
	}
	if err := p.CheckCalls("execve", "close", "write", "sendmsg", "exit_group"); err != nil {
		t.Fatal(err)
	}
}

func TestFeatures(t *testing.T) {
	if got := Actions(); len(got) != 9 {
		t.Errorf("actions: %v", got)
	}
	if got := Operators(); len(got) != 7 {
		t.Errorf("operators: %v", got)
	}
	archs := strings.Join(Archs(), ",")
	for _, a := range []string{"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"} {
		if !strings.Contains(archs+",", a+",") {
			t.Errorf("archs %s lack %s", archs, a)
		}
	}
	if got := KnownFlags(); len(got) != 4 {
		t.Errorf("known flags: %v", got)
	}
	supported := strings.Join(SupportedFlags(), ",")
	// Kernel 4.17+ has LOG and SPEC_ALLOW; TSYNC is always reported.
	for _, f := range []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"} {
		if !strings.Contains(supported, f) {
			t.Errorf("supported flags %s lack %s", supported, f)
		}
	}
	if !Enabled() {
		t.Error("seccomp reported disabled")
	}
}

// sameProgram reports whether two programs are identical.
func sameProgram(a, b *Program) bool {
	return a.Flags == b.Flags && a.Notify == b.Notify && a.Arch == b.Arch &&
		string(filterBytes(a.Filter)) == string(filterBytes(b.Filter))
}
