package v2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Cgroup v2 has no devices controller: device access is decided by eBPF
// programs of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. The
// kernel runs each program with a struct bpf_cgroup_dev_ctx:
//
//	offset 0  u32 access_type  (access bits << 16) | device type
//	offset 4  u32 major
//	offset 8  u32 minor
//
// where the type is 1 (block) or 2 (char) and the access bits are
// mknod 1, read 2, write 4. A return value of 1 allows, 0 denies (EPERM).
// The program generated here loads the four values into r2..r5 and then
// tests each exception of the DevicePolicy in turn; the first match
// returns its verdict, and the default verdict ends the program.

// insn is one eBPF instruction (struct bpf_insn).
type insn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high nibble
	off  int16
	imm  int32
}

// eBPF opcodes used by the generator.
const (
	opLdxW    = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
	opAndK    = unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K
	opRshK    = unix.BPF_ALU64 | unix.BPF_RSH | unix.BPF_K
	opMovK    = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K
	opMovX    = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X
	opJneK    = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
	opJeqK    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opExit    = unix.BPF_JMP | unix.BPF_EXIT
	devBlock  = 1
	devChar   = 2
	regCtx    = 1
	regType   = 2
	regAccess = 3
	regMajor  = 4
	regMinor  = 5
	regTmp    = 1 // the context pointer is dead after the prologue
)

func ins(code uint8, dst, src uint8, off int16, imm int32) insn {
	return insn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// deviceFilterProgram compiles a DevicePolicy to eBPF instructions.
func deviceFilterProgram(p *DevicePolicy) []insn {
	prog := []insn{
		ins(opLdxW, regType, regCtx, 0, 0),
		ins(opAndK, regType, 0, 0, 0xffff),
		ins(opLdxW, regAccess, regCtx, 0, 0),
		ins(opRshK, regAccess, 0, 0, 16),
		ins(opLdxW, regMajor, regCtx, 4, 0),
		ins(opLdxW, regMinor, regCtx, 8, 0),
	}
	verdict := int32(0)
	if !p.DefaultAllow {
		verdict = 1
	}
	for _, e := range p.Exceptions {
		var block []insn
		// Every conditional jump in a block skips to the block's end; the
		// offsets are patched once the block's length is known (-1 marks).
		typ := int32(devChar)
		if e.Type == 'b' {
			typ = devBlock
		}
		block = append(block, ins(opJneK, regType, 0, -1, typ))
		switch {
		case p.DefaultAllow:
			// A deny exception matches on any shared access bit.
			if e.Access != accessAll {
				block = append(block,
					ins(opMovX, regTmp, regAccess, 0, 0),
					ins(opAndK, regTmp, 0, 0, int32(e.Access)),
					ins(opJeqK, regTmp, 0, -1, 0))
			}
		case e.Access != accessAll:
			// An allow exception must cover every requested bit.
			block = append(block,
				ins(opMovX, regTmp, regAccess, 0, 0),
				ins(opAndK, regTmp, 0, 0, int32(^e.Access&accessAll)),
				ins(opJneK, regTmp, 0, -1, 0))
		}
		if e.Major != Wildcard {
			block = append(block, ins(opJneK, regMajor, 0, -1, int32(uint32(e.Major))))
		}
		if e.Minor != Wildcard {
			block = append(block, ins(opJneK, regMinor, 0, -1, int32(uint32(e.Minor))))
		}
		block = append(block, ins(opMovK, 0, 0, 0, verdict), ins(opExit, 0, 0, 0, 0))
		for i := range block {
			if block[i].off == -1 {
				block[i].off = int16(len(block) - i - 1)
			}
		}
		prog = append(prog, block...)
	}
	def := int32(0)
	if p.DefaultAllow {
		def = 1
	}
	return append(prog, ins(opMovK, 0, 0, 0, def), ins(opExit, 0, 0, 0, 0))
}

func encode(prog []insn) []byte {
	var b bytes.Buffer
	for _, in := range prog {
		_ = binary.Write(&b, binary.NativeEndian, in)
	}
	return b.Bytes()
}

// bpf attribute blocks (prefixes of union bpf_attr) for the commands used.
type progLoadAttr struct {
	progType      uint32
	insnCnt       uint32
	insns         uint64
	license       uint64
	logLevel      uint32
	logSize       uint32
	logBuf        uint64
	kernVersion   uint32
	progFlags     uint32
	progName      [16]byte
	progIfindex   uint32
	expAttachType uint32
}

type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
	_            uint32
}

type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type getFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
	_         uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	runtime.KeepAlive(attr)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// loadProgram loads prog as a CGROUP_DEVICE program and returns its fd. On
// failure it loads again with the verifier log to explain why.
func loadProgram(prog []insn) (int, error) {
	code := encode(prog)
	license := []byte("Apache-2.0\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "husk_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		return int(fd), nil
	}
	logBuf := make([]byte, 64<<10)
	attr.logLevel = 1
	attr.logSize = uint32(len(logBuf))
	attr.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
	if fd, lerr := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); lerr == nil {
		unix.Close(int(fd))
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	runtime.KeepAlive(logBuf)
	if n := bytes.IndexByte(logBuf, 0); n > 0 {
		return -1, fmt.Errorf("load device filter program: %w (verifier: %s)", err, bytes.TrimSpace(logBuf[:n]))
	}
	return -1, fmt.Errorf("load device filter program: %w", err)
}

// queryPrograms lists the ids of the CGROUP_DEVICE programs attached to the
// cgroup open at dirFd.
func queryPrograms(dirFd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	for {
		attr := progQueryAttr{
			targetFd:   uint32(dirFd),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(ids)
		if errors.Is(err, unix.ENOSPC) && len(ids) < 1<<16 {
			ids = make([]uint32, 2*int(attr.progCnt)+1)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("query device filter programs: %w", err)
		}
		return ids[:attr.progCnt], nil
	}
}

func progFdByID(id uint32) (int, error) {
	attr := getFdByIDAttr{id: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("open device filter program %d: %w", id, err)
	}
	return int(fd), nil
}

func attach(dirFd, progFd, replaceFd int) error {
	attr := progAttachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if replaceFd >= 0 {
		attr.attachFlags |= unix.BPF_F_REPLACE
		attr.replaceBpfFd = uint32(replaceFd)
	}
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

func detach(dirFd, progFd int) error {
	attr := progAttachAttr{
		targetFd:    uint32(dirFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	_, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

// installDeviceFilter attaches prog to the cgroup at dir, in place of the
// device programs already there: with BPF_F_ALLOW_MULTI, and when exactly
// one program is attached, atomically replacing it (BPF_F_REPLACE) so the
// cgroup is never without a filter; with several, the new one is attached
// first and the old ones detached after.
func installDeviceFilter(dir string, prog []insn) error {
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(dirFd)
	old, err := queryPrograms(dirFd)
	if err != nil {
		return err
	}
	progFd, err := loadProgram(prog)
	if err != nil {
		return err
	}
	defer unix.Close(progFd)
	var oldFds []int
	defer func() {
		for _, fd := range oldFds {
			unix.Close(fd)
		}
	}()
	for _, id := range old {
		fd, err := progFdByID(id)
		if err != nil {
			return err
		}
		oldFds = append(oldFds, fd)
	}
	if len(oldFds) == 1 {
		err := attach(dirFd, progFd, oldFds[0])
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("attach device filter to %s (replace): %w", dir, err)
		}
		logrus.Debugf("BPF_F_REPLACE not supported (%v); attaching then detaching", err)
	}
	if err := attach(dirFd, progFd, -1); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	for _, fd := range oldFds {
		if err := detach(dirFd, fd); err != nil {
			return fmt.Errorf("detach old device filter from %s: %w", dir, err)
		}
	}
	return nil
}

// setDevices turns linux.resources.devices into a device filter program
// attached to the cgroup. An empty list leaves the current filter alone.
func (s *setter) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	p, err := ComputeDevicePolicy(r.Devices)
	if err != nil {
		return err
	}
	return installDeviceFilter(s.dir, deviceFilterProgram(p))
}
