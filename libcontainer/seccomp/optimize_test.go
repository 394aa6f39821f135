package seccomp

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Architectures the comparisons run for: the three of the x86 family, one
// outside the profile, and values next to and far from them.
var testArches = []uint32{
	unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64,
	unix.AUDIT_ARCH_X86_64 - 1, unix.AUDIT_ARCH_X86_64 + 1, unix.AUDIT_ARCH_I386 + 1,
	0, ^uint32(0),
}

// testNumbers are the syscall numbers compared: all below 1100, the same
// with the x32 bit, and edges.
func testNumbers() []uint32 {
	var nrs []uint32
	for nr := uint32(0); nr < 1100; nr++ {
		nrs = append(nrs, nr, nr|x32SyscallBit)
	}
	return append(nrs, x32SyscallBit-1, 0x7fffffff, 0x80000000, ^uint32(0)-1, ^uint32(0))
}

// argPool returns argument values worth trying for cfg: every value and mask
// its rules name, next to them, and a few fixed ones.
func argPool(cfg *specs.LinuxSeccomp) []uint64 {
	pool := []uint64{0, 1, ^uint64(0), 0xffffffff, 1 << 32, unix.CLONE_NEWUSER, unix.CLONE_VM | unix.CLONE_THREAD}
	for _, r := range cfg.Syscalls {
		for _, a := range r.Args {
			for _, v := range []uint64{a.Value, a.ValueTwo} {
				pool = append(pool, v, v-1, v+1, v|1<<40, v&0xffffffff, v^0xffffffff00000000)
			}
		}
	}
	return pool
}

// conditionalNumbers are the numbers, on every architecture, of the syscalls
// cfg has argument conditions for.
func conditionalNumbers(t *testing.T, cfg *specs.LinuxSeccomp) []uint32 {
	t.Helper()
	arches := []libseccomp.ScmpArch{libseccomp.ArchAMD64, libseccomp.ArchX86, libseccomp.ArchX32}
	var nrs []uint32
	for _, r := range cfg.Syscalls {
		if len(r.Args) == 0 {
			continue
		}
		for _, name := range r.Names {
			for _, arch := range arches {
				if nr, err := libseccomp.GetSyscallFromNameByArch(name, arch); err == nil && nr >= 0 {
					nrs = append(nrs, uint32(nr))
				}
			}
			// socketcall and ipc multiplex on x86.
			for _, mux := range []string{"socketcall", "ipc"} {
				if nr, err := libseccomp.GetSyscallFromNameByArch(mux, libseccomp.ArchX86); err == nil && nr >= 0 {
					nrs = append(nrs, uint32(nr))
				}
			}
		}
	}
	return nrs
}

// compareWithRaw compiles cfg with libseccomp's layout, optimises that
// (whether or not the result is shorter, which is when Compile keeps it) and
// checks that the two programs decide alike for every architecture and
// number tried, with many arguments where the profile looks at them. It
// returns both lengths.
func compareWithRaw(t *testing.T, cfg *specs.LinuxSeccomp, rnd *rand.Rand) (raw, opt int) {
	t.Helper()
	ref, err := compile(cfg, true)
	if err != nil {
		t.Fatalf("compile raw: %v", err)
	}
	filter, err := optimize(ref.Filter)
	if err != nil {
		t.Fatalf("optimise: %v", err)
	}
	got := &Program{Filter: filter, Arch: ref.Arch}
	pool := argPool(cfg)
	randArgs := func() [6]uint64 {
		var a [6]uint64
		for i := range a {
			a[i] = pool[rnd.Intn(len(pool))]
		}
		return a
	}
	differ := 0
	compare := func(arch, nr uint32, args [6]uint64) {
		want, err := ref.evaluateArch(arch, nr, args)
		if err != nil {
			t.Fatalf("evaluate raw: %v", err)
		}
		have, err := got.evaluateArch(arch, nr, args)
		if err != nil {
			t.Fatalf("evaluate optimised: %v", err)
		}
		if have != want {
			differ++
			if differ <= 5 {
				t.Errorf("arch %#x nr %#x args %#x: optimised %s, libseccomp %s", arch, nr, args, actionName(have), actionName(want))
			}
		}
	}
	cond := conditionalNumbers(t, cfg)
	for _, arch := range testArches {
		for _, nr := range testNumbers() {
			compare(arch, nr, [6]uint64{})
		}
		for _, nr := range cond {
			for _, bit := range []uint32{0, x32SyscallBit} {
				for i := 0; i < 60; i++ {
					compare(arch, nr|bit, randArgs())
				}
			}
		}
	}
	for i := 0; i < 2000; i++ {
		compare(testArches[rnd.Intn(len(testArches))], uint32(rnd.Intn(1100))|uint32(rnd.Intn(2))*x32SyscallBit, randArgs())
	}
	if differ > 0 {
		t.Fatalf("%d differences", differ)
	}
	return len(ref.Filter), len(got.Filter)
}

func TestOptimizeDefaultFixture(t *testing.T) {
	requireAMD64(t)
	cfg := loadFixture(t)
	rnd := rand.New(rand.NewSource(1))
	raw, opt := compareWithRaw(t, cfg, rnd)
	t.Logf("libseccomp %d instructions, optimised %d", raw, opt)
	if opt*2 > raw {
		t.Errorf("optimised program has %d instructions, libseccomp's %d: expected less than half", opt, raw)
	}
	// The same profile under other default actions (no ENOSYS prefix under
	// ALLOW and LOG; KILL_PROCESS and TRACE keep it).
	for _, def := range []specs.LinuxSeccompAction{specs.ActAllow, specs.ActLog, specs.ActKillProcess, specs.ActTrace, specs.ActTrap} {
		t.Run(string(def), func(t *testing.T) {
			c := *cfg
			c.DefaultAction = def
			c.DefaultErrnoRet = nil
			compareWithRaw(t, &c, rnd)
		})
	}
}

// randomProfile builds a profile from names, actions and conditions drawn
// at random, including syscalls that exist only on x86 and ones newer than
// the installed libseccomp.
func randomProfile(rnd *rand.Rand) *specs.LinuxSeccomp {
	names := []string{
		"read", "write", "open", "close", "mmap", "clone", "clone3", "personality", "socket",
		"socketcall", "ipc", "ioctl", "prctl", "kill", "mount", "umount2", "chmod", "fchmodat",
		"setsockopt", "getsockopt", "bind", "connect", "futex", "open_tree", "pidfd_open",
		"keyctl", "ptrace", "unshare", "setns", "mremap", "_llseek", "waitpid", "arch_prctl",
		"faccessat2", "openat2", "close_range", "mseal", "getxattrat",
	}
	actions := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKill, specs.ActKillProcess, specs.ActTrap, specs.ActTrace, specs.ActLog}
	ops := []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual}
	values := []uint64{0, 1, 2, 3, 0x10, 0xff, 1 << 31, 0xffffffff, 1 << 32, 0x100000003, ^uint64(0)}
	cfg := &specs.LinuxSeccomp{DefaultAction: actions[rnd.Intn(len(actions))]}
	if cfg.DefaultAction == specs.ActErrno && rnd.Intn(2) == 0 {
		cfg.DefaultErrnoRet = uptr(uint(unix.ENOSYS))
	}
	cfg.Architectures = [][]specs.Arch{
		nil,
		{specs.ArchX86_64},
		{specs.ArchX86_64, specs.ArchX86},
		{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		{specs.ArchX86_64, specs.ArchX32},
		{specs.ArchX86_64, specs.ArchAARCH64},
	}[rnd.Intn(6)]
	// Each name gets one unconditional rule or conditional ones, as
	// libseccomp refuses to mix them for one syscall and action.
	rnd.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, name := range names[:5+rnd.Intn(len(names)-5)] {
		act := actions[rnd.Intn(len(actions))]
		if act == cfg.DefaultAction {
			continue
		}
		rule := specs.LinuxSyscall{Names: []string{name}, Action: act}
		if act == specs.ActErrno || act == specs.ActTrace {
			rule.ErrnoRet = uptr(uint(1 + rnd.Intn(100)))
		}
		if _, newer := newerSyscalls[name]; !newer && rnd.Intn(3) == 0 {
			used := map[uint]bool{}
			for n := 1 + rnd.Intn(3); n > 0; n-- {
				idx := uint(rnd.Intn(6))
				if used[idx] {
					continue
				}
				used[idx] = true
				arg := specs.LinuxSeccompArg{Index: idx, Op: ops[rnd.Intn(len(ops))], Value: values[rnd.Intn(len(values))]}
				if arg.Op == specs.OpMaskedEqual {
					arg.Value, arg.ValueTwo = values[rnd.Intn(len(values))], values[rnd.Intn(len(values))]
					arg.ValueTwo &= arg.Value
				}
				rule.Args = append(rule.Args, arg)
			}
		}
		cfg.Syscalls = append(cfg.Syscalls, rule)
	}
	return cfg
}

func TestOptimizeRandomProfiles(t *testing.T) {
	requireAMD64(t)
	rnd := rand.New(rand.NewSource(7))
	compared := 0
	for i := 0; i < 60; i++ {
		cfg := randomProfile(rnd)
		if _, err := compile(cfg, true); err != nil {
			// libseccomp refuses some combinations (a rule on a syscall of
			// no architecture in the filter, say): nothing to compare.
			continue
		}
		compared++
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			raw, opt := compareWithRaw(t, cfg, rnd)
			// Compile keeps the shorter of the two.
			p, err := Compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if want := min(raw, opt); len(p.Filter) != want {
				t.Errorf("Compile gave %d instructions; libseccomp %d, optimised %d", len(p.Filter), raw, opt)
			}
		})
	}
	if compared < 40 {
		t.Errorf("only %d of the random profiles compiled", compared)
	}
}

// prog is shorthand for hand-written programs.
func prog(ins ...unix.SockFilter) []unix.SockFilter { return ins }

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
}

func TestOptimizeGivesUpOnWhatItDoesNotModel(t *testing.T) {
	allow, kill := stmt(opRet, unix.SECCOMP_RET_ALLOW), stmt(opRet, unix.SECCOMP_RET_KILL_PROCESS)
	ldNr := stmt(opLdAbs, offNr)
	cases := map[string][]unix.SockFilter{
		"arithmetic on nr": prog(ldNr, stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 1), jump(opJeq, 1, 0, 1), allow, kill),
		"jset on nr":       prog(ldNr, jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, 1, 0, 1), allow, kill),
		"X register":       prog(ldNr, stmt(unix.BPF_MISC|unix.BPF_TAX, 0), jump(opJeq, 1, 0, 1), allow, kill),
		"returns nr":       prog(ldNr, stmt(unix.BPF_RET|unix.BPF_A, 0)),
		"bad offset":       prog(stmt(opLdAbs, 2), allow),
		"runs off its end": prog(ldNr, jump(opJeq, 1, 0, 1), allow),
	}
	for name, p := range cases {
		if _, err := optimize(p); !errors.Is(err, errNotModelled) {
			t.Errorf("%s: %v, want errNotModelled", name, err)
		}
	}
}

func TestOptimizeArgumentTestsAndEntryState(t *testing.T) {
	// if nr == 7 && arg0 & 0xf0 == 0x30: allow; nr == 7: errno; else kill.
	// ALU on an argument and a tested return of A.
	p := prog(
		stmt(opLdAbs, offNr),
		jump(opJeq, 7, 0, 5),
		stmt(opLdAbs, 16),
		stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 0xf0),
		jump(opJeq, 0x30, 0, 1),
		stmt(opRet, unix.SECCOMP_RET_ALLOW),
		stmt(opRet, unix.SECCOMP_RET_ERRNO|1),
		stmt(opLdAbs, 24),
		stmt(unix.BPF_RET|unix.BPF_A, 0),
	)
	out, err := optimize(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, nr := range []uint32{0, 6, 7, 8, ^uint32(0)} {
		for _, a0 := range []uint64{0, 0x30, 0x31, 0x130, 0x40} {
			var data [sizeofSeccompData]byte
			putData(&data, 0, nr, [6]uint64{a0, 0x7fff0000 | uint64(nr)})
			want, err1 := runBPF(p, data[:])
			got, err2 := runBPF(out, data[:])
			if err1 != nil || err2 != nil || got != want {
				t.Errorf("nr %d arg0 %#x: %#x (%v), want %#x (%v)", nr, a0, got, err2, want, err1)
			}
		}
	}
}

func TestAsmTrampolines(t *testing.T) {
	// 400 ranges, each returning its own value from a pool after the
	// tree: the first tests are more than 255 instructions from the pool.
	a := newAsm()
	var spans []span
	for i := uint32(0); i < 400; i++ {
		spans = append(spans, span{lo: i * 10, target: fmt.Sprintf("r%d", i)})
	}
	a.enterTree(offNr, spans)
	for i := uint32(0); i < 400; i++ {
		a.label(fmt.Sprintf("r%d", i))
		a.raw(stmt(opRet, unix.SECCOMP_RET_ERRNO|i))
	}
	out, err := a.assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) <= 400+399+1 {
		t.Fatalf("%d instructions: expected trampolines", len(out))
	}
	for i := uint32(0); i < 400; i++ {
		for _, nr := range []uint32{i * 10, i*10 + 9} {
			var data [sizeofSeccompData]byte
			putData(&data, 0, nr, [6]uint64{})
			got, err := runBPF(out, data[:])
			if err != nil || got != unix.SECCOMP_RET_ERRNO|i {
				t.Fatalf("nr %d: %#x, %v; want range %d", nr, got, err, i)
			}
		}
	}
}

func TestSameDecisionsCatchesADifference(t *testing.T) {
	requireAMD64(t)
	ref, err := compile(loadFixture(t), true)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := plan(ref.Filter)
	if err != nil {
		t.Fatal(err)
	}
	out, err := build(plans)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDecisions(ref.Filter, out, plans); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	// Turn each return into another action in turn: every one is caught.
	for i, in := range out {
		if in.Code != opRet {
			continue
		}
		bad := append([]unix.SockFilter(nil), out...)
		bad[i].K ^= unix.SECCOMP_RET_ERRNO ^ unix.SECCOMP_RET_TRACE
		if sameDecisions(ref.Filter, bad, plans) == nil {
			t.Errorf("return at %d changed and not noticed", i)
		}
	}
}

// TestLoadOptimizedDefaultFixture loads the optimised program of the
// docker-like fixture in a child and makes real system calls under it.
func TestLoadOptimizedDefaultFixture(t *testing.T) {
	requireAMD64(t)
	cfg := loadFixture(t)
	ref, err := compile(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if p := mustCompile(t, cfg); len(p.Filter) >= len(ref.Filter) {
		t.Fatalf("Compile kept libseccomp's layout (%d instructions)", len(p.Filter))
	}
	calls := []call{
		{Nr: unix.SYS_GETPPID}, // allowed
		{Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{0xffffffff}}, // allowed for this argument (query)
		{Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{0x0040000}},  // denied for this one
		{Nr: unix.SYS_MOUNT}, // denied
		{Nr: unix.SYS_CLONE, Args: [6]uintptr{unix.CLONE_NEWUSER}},               // denied for these flags
		{Nr: unix.SYS_SOCKET, Args: [6]uintptr{unix.AF_VSOCK, unix.SOCK_STREAM}}, // denied family
		{Nr: unix.SYS_CLONE3}, // newer than the profile
		{Nr: 1000},            // no such call yet
	}
	out, errOut, ws := runInChild(t, cfg, "calls", callsEnvValue(t, calls))
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child: %v, stderr %q", ws, errOut)
	}
	want := fmt.Sprintf("0 0 %d %d %d %d %d %d ", unix.EPERM, unix.EPERM, unix.EPERM, unix.EPERM, unix.ENOSYS, unix.ENOSYS)
	if out != want {
		t.Fatalf("errnos %q, want %q", out, want)
	}
}
