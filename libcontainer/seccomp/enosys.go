package seccomp

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// The ENOSYS prefix
//
// A profile lists the syscalls its author knew about. A program that calls a
// syscall the profile never heard of (clone3 under an older profile) must see
// ENOSYS, as on an older kernel, so that libc falls back to the old call;
// the profile's default action (usually EPERM) would make libc give up.
//
// husk compiles the profile with libseccomp and puts a short program of its
// own in front of libseccomp's. For every architecture of the filter the
// prefix loads the syscall number and returns SECCOMP_RET_ERRNO|ENOSYS when
// it is greater than the largest number the profile names for that
// architecture; anything else jumps to the start of libseccomp's program,
// which reloads what it needs. The prefix is only emitted when the default
// action is not permissive (ALLOW, LOG) and not already ERRNO(ENOSYS).
//
// The same prefix carries the rules for syscalls that are newer than the
// installed libseccomp's table (see newerSyscalls): rules without argument
// conditions for those names become "number == N: return action" tests.

// newerSyscalls numbers syscalls added since Linux 5.1. From number 424 on,
// every architecture with archInfo.generic uses these numbers (x32 adds
// x32SyscallBit). They are used only for names the installed libseccomp
// cannot resolve.
var newerSyscalls = map[string]uint32{
	"pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
	"io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
	"fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
	"close_range": 436, "openat2": 437, "pidfd_getfd": 438, "faccessat2": 439,
	"process_madvise": 440, "epoll_pwait2": 441, "mount_setattr": 442,
	"quotactl_fd": 443, "landlock_create_ruleset": 444, "landlock_add_rule": 445,
	"landlock_restrict_self": 446, "memfd_secret": 447, "process_mrelease": 448,
	"futex_waitv": 449, "set_mempolicy_home_node": 450, "cachestat": 451,
	"fchmodat2": 452, "map_shadow_stack": 453, "futex_wake": 454, "futex_wait": 455,
	"futex_requeue": 456, "statmount": 457, "listmount": 458,
	"lsm_get_self_attr": 459, "lsm_set_self_attr": 460, "lsm_list_modules": 461,
	"mseal": 462, "setxattrat": 463, "getxattrat": 464, "listxattrat": 465,
	"removexattrat": 466, "open_tree_attr": 467, "file_getattr": 468,
	"file_setattr": 469,
}

// archStub is what the prefix needs to know about one architecture.
type archStub struct {
	info archInfo
	// max is the largest syscall number the profile names; -1 for none.
	max int64
	// extra holds "number == key: return value" rules (numbers final,
	// x32 bit included).
	extra map[uint32]uint32
}

// Classic BPF opcodes husk emits (the prefix and the optimised layout).
const (
	opLdAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opJeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opJa    = unix.BPF_JMP | unix.BPF_JA
	opRet   = unix.BPF_RET | unix.BPF_K
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
)

const retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// emitNrChecks emits the tests for one syscall-number range of an
// architecture; the syscall number is already in A. It never falls through:
// it ends with a jump to main.
func emitNrChecks(a *asm, st *archStub, enosys bool) {
	keys := make([]uint32, 0, len(st.extra))
	for nr := range st.extra {
		keys = append(keys, nr)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, nr := range keys {
		// if A == nr: return action, else skip the return.
		a.emit(opJeq, 0, 1, nr)
		a.emit(opRet, 0, 0, st.extra[nr])
	}
	if enosys && st.max >= 0 && st.max < 0xffffffff {
		a.emit(opJge, 0, 1, uint32(st.max+1))
		a.emit(opRet, 0, 0, retENOSYS)
	}
	a.jump("main")
}

// buildPrefix returns the instructions to put before libseccomp's program,
// or nil when none are needed.
func buildPrefix(stubs []*archStub, enosys bool) ([]unix.SockFilter, error) {
	needed := false
	for _, st := range stubs {
		if len(st.extra) > 0 || (enosys && st.max >= 0) {
			needed = true
		}
	}
	if !needed {
		return nil, nil
	}
	// Group by AUDIT_ARCH: amd64 and x32 share one.
	type pair struct{ native, x32 *archStub }
	byAudit := map[uint32]*pair{}
	var audits []uint32
	for _, st := range stubs {
		p := byAudit[st.info.audit]
		if p == nil {
			p = &pair{}
			byAudit[st.info.audit] = p
			audits = append(audits, st.info.audit)
		}
		if st.info.x32 {
			p.x32 = st
		} else {
			p.native = st
		}
	}
	sort.Slice(audits, func(i, j int) bool { return audits[i] < audits[j] })

	a := newAsm()
	a.emit(opLdAbs, 0, 0, offArch)
	for _, audit := range audits {
		// if arch == audit: go to its block, else test the next arch.
		a.emit(opJeq, 0, 1, audit)
		a.jump(fmt.Sprintf("arch-%x", audit))
	}
	a.jump("main")
	for _, audit := range audits {
		p := byAudit[audit]
		a.label(fmt.Sprintf("arch-%x", audit))
		a.emit(opLdAbs, 0, 0, offNr)
		if audit == unix.AUDIT_ARCH_X86_64 {
			// Numbers with the x32 bit belong to x32; the others to amd64.
			// A half that is not in the profile is left to libseccomp,
			// which applies the bad-architecture action.
			a.emit(opJge, 0, 1, x32SyscallBit)
			if p.x32 != nil {
				a.jump("x32")
			} else {
				a.jump("main")
			}
			if p.native != nil {
				emitNrChecks(a, p.native, enosys)
			} else {
				a.jump("main")
			}
			if p.x32 != nil {
				a.label("x32")
				emitNrChecks(a, p.x32, enosys)
			}
			continue
		}
		emitNrChecks(a, p.native, enosys)
	}
	a.label("main") // the first instruction after the prefix
	return a.assemble()
}
