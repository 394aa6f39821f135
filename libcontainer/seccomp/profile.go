package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// maxArgs is the number of arguments a Linux system call can have.
const maxArgs = 6

// action is one resolved profile action: the libseccomp form used to build
// the filter and the kernel return value (SECCOMP_RET_*) it compiles to.
type action struct {
	lib    libseccomp.ScmpAction
	kernel uint32
}

// actionNames maps every OCI action name to its kernel action without data.
var actionNames = map[specs.LinuxSeccompAction]uint32{
	specs.ActKill:        unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillThread:  unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillProcess: unix.SECCOMP_RET_KILL_PROCESS,
	specs.ActTrap:        unix.SECCOMP_RET_TRAP,
	specs.ActErrno:       unix.SECCOMP_RET_ERRNO,
	specs.ActTrace:       unix.SECCOMP_RET_TRACE,
	specs.ActAllow:       unix.SECCOMP_RET_ALLOW,
	specs.ActLog:         unix.SECCOMP_RET_LOG,
	specs.ActNotify:      unix.SECCOMP_RET_USER_NOTIF,
}

// parseAction resolves an OCI action and its optional errnoRet. ERRNO and
// TRACE default to EPERM, as in runc; errnoRet on any other action is an
// error because the kernel has nowhere to put it.
func parseAction(name specs.LinuxSeccompAction, errnoRet *uint) (action, error) {
	kernel, ok := actionNames[name]
	if !ok {
		return action{}, fmt.Errorf("seccomp: unknown action %q", name)
	}
	if errnoRet != nil && kernel != unix.SECCOMP_RET_ERRNO && kernel != unix.SECCOMP_RET_TRACE {
		return action{}, fmt.Errorf("seccomp: errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %q", name)
	}
	code := uint(unix.EPERM)
	if errnoRet != nil {
		code = *errnoRet
		if code > 0xffff {
			return action{}, fmt.Errorf("seccomp: errnoRet %d out of range", code)
		}
	}
	switch kernel {
	case unix.SECCOMP_RET_KILL_THREAD:
		return action{libseccomp.ActKillThread, kernel}, nil
	case unix.SECCOMP_RET_KILL_PROCESS:
		return action{libseccomp.ActKillProcess, kernel}, nil
	case unix.SECCOMP_RET_TRAP:
		return action{libseccomp.ActTrap, kernel}, nil
	case unix.SECCOMP_RET_ERRNO:
		return action{libseccomp.ActErrno.SetReturnCode(int16(code)), kernel | uint32(code)}, nil
	case unix.SECCOMP_RET_TRACE:
		return action{libseccomp.ActTrace.SetReturnCode(int16(code)), kernel | uint32(code)}, nil
	case unix.SECCOMP_RET_LOG:
		return action{libseccomp.ActLog, kernel}, nil
	case unix.SECCOMP_RET_USER_NOTIF:
		return action{libseccomp.ActNotify, kernel}, nil
	default:
		return action{libseccomp.ActAllow, kernel}, nil
	}
}

// operatorNames maps every OCI operator to libseccomp's comparison.
var operatorNames = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// parseArg converts one OCI argument condition. For SCMP_CMP_MASKED_EQ the
// OCI "value" is the mask and "valueTwo" the datum, which is libseccomp's
// order too.
func parseArg(a specs.LinuxSeccompArg) (libseccomp.ScmpCondition, error) {
	op, ok := operatorNames[a.Op]
	if !ok {
		return libseccomp.ScmpCondition{}, fmt.Errorf("seccomp: unknown operator %q", a.Op)
	}
	if a.Index >= maxArgs {
		return libseccomp.ScmpCondition{}, fmt.Errorf("seccomp: argument index %d out of range (a syscall has %d arguments)", a.Index, maxArgs)
	}
	cond, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
	if err != nil {
		return libseccomp.ScmpCondition{}, fmt.Errorf("seccomp: argument %d: %w", a.Index, err)
	}
	return cond, nil
}

// archInfo describes one architecture husk can put in a filter.
type archInfo struct {
	lib libseccomp.ScmpArch
	// audit is the AUDIT_ARCH_* value the kernel reports in seccomp_data.
	audit uint32
	// generic is true when the arch numbers syscalls added since Linux 5.1
	// (424 and up) with the common table, so husk's own table applies.
	generic bool
	// x32 marks the x32 ABI, which shares AUDIT_ARCH_X86_64 with amd64
	// and sets bit 30 in the syscall number.
	x32 bool
}

// x32SyscallBit is __X32_SYSCALL_BIT: x32 syscall numbers carry it.
const x32SyscallBit = 0x40000000

// archNames maps every OCI architecture to libseccomp's and the kernel's.
var archNames = map[specs.Arch]archInfo{
	specs.ArchX86:         {libseccomp.ArchX86, unix.AUDIT_ARCH_I386, true, false},
	specs.ArchX86_64:      {libseccomp.ArchAMD64, unix.AUDIT_ARCH_X86_64, true, false},
	specs.ArchX32:         {libseccomp.ArchX32, unix.AUDIT_ARCH_X86_64, true, true},
	specs.ArchARM:         {libseccomp.ArchARM, unix.AUDIT_ARCH_ARM, true, false},
	specs.ArchAARCH64:     {libseccomp.ArchARM64, unix.AUDIT_ARCH_AARCH64, true, false},
	specs.ArchMIPS:        {libseccomp.ArchMIPS, unix.AUDIT_ARCH_MIPS, false, false},
	specs.ArchMIPS64:      {libseccomp.ArchMIPS64, unix.AUDIT_ARCH_MIPS64, false, false},
	specs.ArchMIPS64N32:   {libseccomp.ArchMIPS64N32, unix.AUDIT_ARCH_MIPS64N32, false, false},
	specs.ArchMIPSEL:      {libseccomp.ArchMIPSEL, unix.AUDIT_ARCH_MIPSEL, false, false},
	specs.ArchMIPSEL64:    {libseccomp.ArchMIPSEL64, unix.AUDIT_ARCH_MIPSEL64, false, false},
	specs.ArchMIPSEL64N32: {libseccomp.ArchMIPSEL64N32, unix.AUDIT_ARCH_MIPSEL64N32, false, false},
	specs.ArchPPC:         {libseccomp.ArchPPC, unix.AUDIT_ARCH_PPC, true, false},
	specs.ArchPPC64:       {libseccomp.ArchPPC64, unix.AUDIT_ARCH_PPC64, true, false},
	specs.ArchPPC64LE:     {libseccomp.ArchPPC64LE, unix.AUDIT_ARCH_PPC64LE, true, false},
	specs.ArchS390:        {libseccomp.ArchS390, unix.AUDIT_ARCH_S390, false, false},
	specs.ArchS390X:       {libseccomp.ArchS390X, unix.AUDIT_ARCH_S390X, false, false},
	specs.ArchPARISC:      {libseccomp.ArchPARISC, unix.AUDIT_ARCH_PARISC, false, false},
	specs.ArchPARISC64:    {libseccomp.ArchPARISC64, unix.AUDIT_ARCH_PARISC64, false, false},
	specs.ArchRISCV64:     {libseccomp.ArchRISCV64, unix.AUDIT_ARCH_RISCV64, true, false},
	specs.ArchLOONGARCH64: {libseccomp.ArchLOONGARCH64, unix.AUDIT_ARCH_LOONGARCH64, true, false},
	specs.ArchM68K:        {libseccomp.ArchM68K, unix.AUDIT_ARCH_M68K, false, false},
	specs.ArchSH:          {libseccomp.ArchSH, unix.AUDIT_ARCH_SHEL, false, false},
	specs.ArchSHEB:        {libseccomp.ArchSHEB, unix.AUDIT_ARCH_SH, false, false},
}

// archByLib finds the OCI description of a libseccomp architecture.
func archByLib(a libseccomp.ScmpArch) (specs.Arch, archInfo, bool) {
	for name, info := range archNames {
		if info.lib == a {
			return name, info, true
		}
	}
	return "", archInfo{}, false
}

// flagValues maps the OCI flag names to SECCOMP_FILTER_FLAG_* bits.
var flagValues = map[specs.LinuxSeccompFlag]uint{
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
	// TSYNC is accepted and not applied, as runc does: the filter goes on
	// the thread that calls execve right after, and execve leaves the new
	// program with only that thread, so there is nothing to synchronise.
	// Applying it would put the container's filter on the Go runtime's
	// other threads before execve.
	"SECCOMP_FILTER_FLAG_TSYNC": 0,
}
