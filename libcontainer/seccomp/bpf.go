package seccomp

import (
	"encoding/binary"
	"fmt"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Evaluate runs the program the way the kernel would for one system call
// made on the program's native architecture and returns the SECCOMP_RET_*
// value (action and data). It lets the runtime check, before loading, what
// the filter will do to the calls it still has to make itself, and lets
// tests check rules without installing them.
func (p *Program) Evaluate(nr int32, args [6]uint64) (uint32, error) {
	return p.evaluateArch(p.Arch, uint32(nr), args)
}

// evaluateArch evaluates the program for a call on any architecture.
func (p *Program) evaluateArch(arch, nr uint32, args [6]uint64) (uint32, error) {
	var data [sizeofSeccompData]byte
	putData(&data, arch, nr, args)
	return runBPF(p.Filter, data[:])
}

// putData fills a struct seccomp_data (the instruction pointer left zero).
func putData(data *[sizeofSeccompData]byte, arch, nr uint32, args [6]uint64) {
	binary.NativeEndian.PutUint32(data[offNr:], nr)
	binary.NativeEndian.PutUint32(data[offArch:], arch)
	for i, a := range args {
		binary.NativeEndian.PutUint64(data[16+8*i:], a)
	}
}

// runBPF interprets a classic BPF program over data (struct seccomp_data).
// It supports the instructions the kernel's seccomp checker admits.
func runBPF(prog []unix.SockFilter, data []byte) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if int(in.K)+4 > len(data) || in.K%4 != 0 {
				return 0, fmt.Errorf("seccomp: bpf: load at bad offset %d (pc %d)", in.K, pc)
			}
			a = binary.NativeEndian.Uint32(data[in.K:])
		case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN:
			a = uint32(len(data))
		case unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN:
			x = uint32(len(data))
		case unix.BPF_LD | unix.BPF_IMM:
			a = in.K
		case unix.BPF_LDX | unix.BPF_IMM:
			x = in.K
		case unix.BPF_LD | unix.BPF_MEM, unix.BPF_LDX | unix.BPF_MEM, unix.BPF_ST, unix.BPF_STX:
			if in.K >= uint32(len(mem)) {
				return 0, fmt.Errorf("seccomp: bpf: bad scratch slot %d (pc %d)", in.K, pc)
			}
			switch in.Code {
			case unix.BPF_LD | unix.BPF_MEM:
				a = mem[in.K]
			case unix.BPF_LDX | unix.BPF_MEM:
				x = mem[in.K]
			case unix.BPF_ST:
				mem[in.K] = a
			default:
				mem[in.K] = x
			}
		case unix.BPF_MISC | unix.BPF_TAX:
			x = a
		case unix.BPF_MISC | unix.BPF_TXA:
			a = x
		case unix.BPF_RET | unix.BPF_K:
			return in.K, nil
		case unix.BPF_RET | unix.BPF_A:
			return a, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K: // most of libseccomp's programs
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			var err error
			switch in.Code & 0x07 {
			case unix.BPF_ALU:
				a, err = alu(in, a, x)
			case unix.BPF_JMP:
				var jump int
				jump, err = cond(in, a, x)
				pc += jump
			default:
				err = fmt.Errorf("unsupported instruction %#x", in.Code)
			}
			if err != nil {
				return 0, fmt.Errorf("seccomp: bpf: %w (pc %d)", err, pc)
			}
		}
		if pc >= len(prog) {
			break
		}
	}
	return 0, fmt.Errorf("seccomp: bpf: program ran off its end")
}

// alu performs one BPF_ALU instruction.
func alu(in unix.SockFilter, a, x uint32) (uint32, error) {
	v := in.K
	if in.Code&0x08 == unix.BPF_X {
		v = x
	}
	switch in.Code & 0xf0 {
	case unix.BPF_ADD:
		return a + v, nil
	case unix.BPF_SUB:
		return a - v, nil
	case unix.BPF_MUL:
		return a * v, nil
	case unix.BPF_DIV:
		if v == 0 {
			return 0, fmt.Errorf("division by zero")
		}
		return a / v, nil
	case unix.BPF_MOD:
		if v == 0 {
			return 0, fmt.Errorf("division by zero")
		}
		return a % v, nil
	case unix.BPF_AND:
		return a & v, nil
	case unix.BPF_OR:
		return a | v, nil
	case unix.BPF_XOR:
		return a ^ v, nil
	case unix.BPF_LSH:
		return a << (v & 31), nil
	case unix.BPF_RSH:
		return a >> (v & 31), nil
	case unix.BPF_NEG:
		return -a, nil
	}
	return 0, fmt.Errorf("unsupported alu instruction %#x", in.Code)
}

// cond evaluates a conditional jump and returns how far to skip.
func cond(in unix.SockFilter, a, x uint32) (int, error) {
	v := in.K
	if in.Code&0x08 == unix.BPF_X {
		v = x
	}
	var ok bool
	switch in.Code & 0xf0 {
	case unix.BPF_JEQ:
		ok = a == v
	case unix.BPF_JGT:
		ok = a > v
	case unix.BPF_JGE:
		ok = a >= v
	case unix.BPF_JSET:
		ok = a&v != 0
	default:
		return 0, fmt.Errorf("unsupported jump instruction %#x", in.Code)
	}
	if ok {
		return int(in.Jt), nil
	}
	return int(in.Jf), nil
}

// dangerousAfterLoad are the actions that must not hit a call the runtime
// makes between loading the filter and execve: a killed or trapped Go thread
// takes the runtime down or leaves it hanging, and a notification waits for
// an agent that only gets the listener afterwards.
func dangerousAfterLoad(ret uint32) bool {
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS, unix.SECCOMP_RET_KILL_THREAD,
		unix.SECCOMP_RET_TRAP, unix.SECCOMP_RET_USER_NOTIF:
		return true
	}
	return false
}

// CheckCalls returns an error naming the first of the given syscalls that
// the program would kill, trap or turn into a notification (for any
// arguments tested: all zero). The runtime passes the calls it makes after
// Load and before execve, so that such a profile fails the create with a
// clear message instead of hanging the container's init.
func (p *Program) CheckCalls(names ...string) error {
	for _, name := range names {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil || nr < 0 {
			continue
		}
		ret, err := p.Evaluate(int32(nr), [6]uint64{})
		if err != nil {
			return err
		}
		if dangerousAfterLoad(ret) {
			return fmt.Errorf("seccomp: the profile blocks %q (action %s), which the runtime needs after installing the filter", name, actionName(ret))
		}
	}
	return nil
}

// actionName names a SECCOMP_RET_* value for messages.
func actionName(ret uint32) string {
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "SCMP_ACT_KILL_PROCESS"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "SCMP_ACT_KILL_THREAD"
	case unix.SECCOMP_RET_TRAP:
		return "SCMP_ACT_TRAP"
	case unix.SECCOMP_RET_ERRNO:
		return fmt.Sprintf("SCMP_ACT_ERRNO(%d)", ret&unix.SECCOMP_RET_DATA)
	case unix.SECCOMP_RET_USER_NOTIF:
		return "SCMP_ACT_NOTIFY"
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("SCMP_ACT_TRACE(%d)", ret&unix.SECCOMP_RET_DATA)
	case unix.SECCOMP_RET_LOG:
		return "SCMP_ACT_LOG"
	case unix.SECCOMP_RET_ALLOW:
		return "SCMP_ACT_ALLOW"
	}
	return fmt.Sprintf("%#x", ret)
}
