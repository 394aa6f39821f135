// Package seccomp turns an OCI seccomp profile into a classic BPF program and
// installs it.
//
// The work is split in two, so that the container's init never links or
// calls libseccomp: the husk parent (create, exec) calls Compile (or
// CompileCached), which validates the profile, builds the filter with
// libseccomp, prepends husk's ENOSYS prefix (see enosys.go) and returns a
// Program; the Program travels to init as JSON; init calls Load with the raw
// seccomp(2) system call right before execve, and SendListener when the
// profile has SCMP_ACT_NOTIFY rules. docs/seccomp.md describes the design.
package seccomp

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Program is a compiled seccomp profile, ready for Load.
type Program struct {
	// Filter is the BPF program, as the kernel's sock_filter array.
	Filter []unix.SockFilter
	// Flags are the SECCOMP_FILTER_FLAG_* bits to use at load time
	// (SECCOMP_FILTER_FLAG_NEW_LISTENER is added by Load when Notify is set).
	Flags uint
	// Notify is true when the profile has SCMP_ACT_NOTIFY rules.
	Notify bool
	// Arch is the AUDIT_ARCH_* value of the architecture the program was
	// compiled on; Evaluate uses it.
	Arch uint32
}

// programJSON is the wire form of a Program: the filter as base64 of the raw
// sock_filter bytes, which is a quarter of the size of a JSON array.
type programJSON struct {
	Filter string `json:"filter"`
	Flags  uint   `json:"flags"`
	Notify bool   `json:"notify,omitempty"`
	Arch   uint32 `json:"arch"`
}

// sockFilterSize is sizeof(struct sock_filter).
const sockFilterSize = int(unsafe.Sizeof(unix.SockFilter{}))

// MarshalJSON encodes the program compactly.
func (p *Program) MarshalJSON() ([]byte, error) {
	return json.Marshal(programJSON{
		Filter: base64.StdEncoding.EncodeToString(filterBytes(p.Filter)),
		Flags:  p.Flags,
		Notify: p.Notify,
		Arch:   p.Arch,
	})
}

// UnmarshalJSON decodes what MarshalJSON produced.
func (p *Program) UnmarshalJSON(b []byte) error {
	var w programJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("seccomp: decode program: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(w.Filter)
	if err != nil {
		return fmt.Errorf("seccomp: decode program filter: %w", err)
	}
	f, err := parseFilter(raw)
	if err != nil {
		return err
	}
	*p = Program{Filter: f, Flags: w.Flags, Notify: w.Notify, Arch: w.Arch}
	return nil
}

// binaryMagic starts MarshalBinary's encoding (version 1).
const binaryMagic = "huskbpf1"

// binaryHeader is the size of MarshalBinary's fixed part: magic, flags (8 bytes), arch (4), notify (1),
// 3 bytes of padding.
const binaryHeader = len(binaryMagic) + 16

// MarshalBinary encodes the program for a file only husk reads (the container's own copy, which
// exec loads): a fixed header and the filter as the kernel takes it, with no parsing to speak of.
func (p *Program) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, binaryHeader+len(p.Filter)*sockFilterSize)
	out = append(out, binaryMagic...)
	out = binary.NativeEndian.AppendUint64(out, uint64(p.Flags))
	out = binary.NativeEndian.AppendUint32(out, p.Arch)
	notify := byte(0)
	if p.Notify {
		notify = 1
	}
	out = append(out, notify, 0, 0, 0)
	return append(out, filterBytes(p.Filter)...), nil
}

// UnmarshalBinary decodes what MarshalBinary produced.
func (p *Program) UnmarshalBinary(b []byte) error {
	if len(b) < binaryHeader || string(b[:len(binaryMagic)]) != binaryMagic {
		return errors.New("seccomp: decode program: not a husk seccomp program")
	}
	h := b[len(binaryMagic):]
	notify := h[12]
	if notify > 1 {
		return errors.New("seccomp: decode program: bad notify flag")
	}
	f, err := parseFilter(b[binaryHeader:])
	if err != nil {
		return err
	}
	if len(f) == 0 || len(f) > maxFilterLen {
		return fmt.Errorf("seccomp: decode program: bad program length %d", len(f))
	}
	*p = Program{Filter: f, Flags: uint(binary.NativeEndian.Uint64(h)), Arch: binary.NativeEndian.Uint32(h[8:]), Notify: notify == 1}
	return nil
}

// Bytes returns the filter as the kernel's struct sock_filter array, in native byte order.
func (p *Program) Bytes() []byte { return filterBytes(p.Filter) }

// filterBytes serialises sock_filters in native byte order, as the kernel
// and libseccomp's export use.
func filterBytes(f []unix.SockFilter) []byte {
	out := make([]byte, 0, len(f)*sockFilterSize)
	for _, in := range f {
		out = binary.NativeEndian.AppendUint16(out, in.Code)
		out = append(out, in.Jt, in.Jf)
		out = binary.NativeEndian.AppendUint32(out, in.K)
	}
	return out
}

// parseFilter is the inverse of filterBytes.
func parseFilter(raw []byte) ([]unix.SockFilter, error) {
	if len(raw)%sockFilterSize != 0 {
		return nil, fmt.Errorf("seccomp: filter length %d is not a multiple of %d", len(raw), sockFilterSize)
	}
	f := make([]unix.SockFilter, 0, len(raw)/sockFilterSize)
	for i := 0; i < len(raw); i += sockFilterSize {
		f = append(f, unix.SockFilter{
			Code: binary.NativeEndian.Uint16(raw[i:]),
			Jt:   raw[i+2],
			Jf:   raw[i+3],
			K:    binary.NativeEndian.Uint32(raw[i+4:]),
		})
	}
	return f, nil
}

// maxFilterLen is BPF_MAXINSNS, the kernel's limit on one program.
const maxFilterLen = 4096

// Compile validates cfg and compiles it for the native architecture and
// cfg.Architectures. Errors are one line starting with "seccomp:".
//
// Semantics follow runc: ERRNO and TRACE return EPERM unless errnoRet says
// otherwise; several conditions in one rule must all match, several rules
// for a syscall are alternatives, and a rule with more than one condition
// on the same argument index is split into one rule per condition (so those
// conditions are alternatives too); rules whose action equals the default
// action are dropped. A syscall name the installed libseccomp does not know
// is an error unless it is a real syscall newer than libseccomp's table, in
// which case its unconditional rules are compiled into husk's prefix and
// conditional ones are skipped with a warning.
func Compile(cfg *specs.LinuxSeccomp) (*Program, error) {
	return compile(cfg, false)
}

// compile is Compile; with raw set it keeps libseccomp's layout, which tests
// use as the reference for the optimised one.
func compile(cfg *specs.LinuxSeccomp, raw bool) (*Program, error) {
	if cfg == nil {
		return nil, errors.New("seccomp: no profile")
	}
	def, err := parseAction(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	if def.kernel == unix.SECCOMP_RET_USER_NOTIF {
		return nil, errors.New("seccomp: SCMP_ACT_NOTIFY cannot be the default action")
	}
	flags, err := parseFlags(cfg.Flags)
	if err != nil {
		return nil, err
	}

	filter, err := libseccomp.NewFilter(def.lib)
	if err != nil {
		return nil, fmt.Errorf("seccomp: create filter: %w", err)
	}
	defer filter.Release()
	// husk sets no_new_privs itself; the kernel does not see this bit
	// because the program is exported, but keep the context honest.
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("seccomp: clear no_new_privs attribute: %w", err)
	}

	stubs, native, err := addArches(filter, cfg.Architectures)
	if err != nil {
		return nil, err
	}

	notify := false
	for i, rule := range cfg.Syscalls {
		act, err := parseAction(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if act.kernel == unix.SECCOMP_RET_USER_NOTIF {
			notify = true
		}
		if len(rule.Names) == 0 {
			return nil, fmt.Errorf("seccomp: syscalls[%d] has no names", i)
		}
		conds := make([]libseccomp.ScmpCondition, 0, len(rule.Args))
		for _, a := range rule.Args {
			c, err := parseArg(a)
			if err != nil {
				return nil, err
			}
			conds = append(conds, c)
		}
		for _, name := range rule.Names {
			if err := addRule(filter, stubs, name, act, def, conds); err != nil {
				return nil, err
			}
		}
	}
	if notify && cfg.ListenerPath == "" {
		return nil, errors.New("seccomp: SCMP_ACT_NOTIFY rules need listenerPath")
	}

	body, err := exportBPF(filter)
	if err != nil {
		return nil, err
	}
	prefix, err := buildPrefix(stubs, wantsENOSYS(def.kernel))
	if err != nil {
		return nil, err
	}
	prog := &Program{Filter: append(prefix, body...), Notify: notify, Arch: native.audit}
	if !raw {
		// A shorter layout of the same decisions (optimize.go); when the
		// program is not one it models, libseccomp's stays.
		if opt, err := optimize(prog.Filter); err != nil {
			logrus.Debugf("seccomp: keeping libseccomp's layout: %v", err)
		} else if len(opt) < len(prog.Filter) {
			prog.Filter = opt
		}
	}
	if len(prog.Filter) > maxFilterLen {
		return nil, fmt.Errorf("seccomp: profile compiles to %d BPF instructions, more than the kernel's limit of %d", len(prog.Filter), maxFilterLen)
	}
	prog.Flags = flags
	if !notify && flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
		// The kernel rejects the flag without a listener; with no notify
		// rules there is nothing for it to change.
		logrus.Debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: the profile has no SCMP_ACT_NOTIFY rules")
		prog.Flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return prog, nil
}

// wantsENOSYS reports whether unknown syscalls need the ENOSYS prefix under
// this default action.
func wantsENOSYS(def uint32) bool {
	switch def {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG, retENOSYS:
		return false
	}
	return true
}

// parseFlags validates the profile's flags and returns their bits.
func parseFlags(names []specs.LinuxSeccompFlag) (uint, error) {
	var flags uint
	for _, f := range names {
		v, ok := flagValues[f]
		if !ok {
			return 0, fmt.Errorf("seccomp: unknown flag %q", f)
		}
		flags |= v
	}
	return flags, nil
}

// addArches adds the native architecture and the profile's to filter and
// returns one stub description per architecture, plus the native one's.
func addArches(filter *libseccomp.ScmpFilter, arches []specs.Arch) ([]*archStub, archInfo, error) {
	nativeLib, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, archInfo{}, fmt.Errorf("seccomp: native architecture: %w", err)
	}
	_, native, ok := archByLib(nativeLib)
	if !ok {
		return nil, archInfo{}, fmt.Errorf("seccomp: native architecture %s is not supported", nativeLib)
	}
	stubs := []*archStub{{info: native, max: -1, extra: map[uint32]uint32{}}}
	for _, name := range arches {
		info, ok := archNames[name]
		if !ok {
			return nil, archInfo{}, fmt.Errorf("seccomp: unknown architecture %q", name)
		}
		if info.lib == nativeLib {
			continue
		}
		if err := filter.AddArch(info.lib); err != nil {
			return nil, archInfo{}, fmt.Errorf("seccomp: add architecture %s: %w", name, err)
		}
		dup := false
		for _, st := range stubs {
			dup = dup || st.info.lib == info.lib
		}
		if !dup {
			stubs = append(stubs, &archStub{info: info, max: -1, extra: map[uint32]uint32{}})
		}
	}
	return stubs, native, nil
}

// addRule adds the rule(s) for one syscall name and records the name's
// number on every architecture for the ENOSYS prefix.
func addRule(filter *libseccomp.ScmpFilter, stubs []*archStub, name string, act, def action, conds []libseccomp.ScmpCondition) error {
	if name == "" {
		return errors.New("seccomp: empty syscall name")
	}
	call, err := libseccomp.GetSyscallFromName(name)
	if err != nil {
		nr, known := newerSyscalls[name]
		if !known {
			return fmt.Errorf("seccomp: unknown syscall %q", name)
		}
		return addNewerRule(stubs, name, nr, act, def, conds)
	}
	for _, st := range stubs {
		nr, err := libseccomp.GetSyscallFromNameByArch(name, st.info.lib)
		if err == nil && nr >= 0 && int64(nr) > st.max {
			st.max = int64(nr)
		}
	}
	if act.kernel == def.kernel {
		return nil
	}
	if len(conds) == 0 {
		if err := filter.AddRule(call, act.lib); err != nil {
			return fmt.Errorf("seccomp: add rule for %q: %w", name, err)
		}
		return nil
	}
	groups := [][]libseccomp.ScmpCondition{conds}
	if sameArgTwice(conds) {
		groups = groups[:0]
		for _, c := range conds {
			groups = append(groups, []libseccomp.ScmpCondition{c})
		}
	}
	for _, g := range groups {
		if err := filter.AddRuleConditional(call, act.lib, g); err != nil {
			return fmt.Errorf("seccomp: add rule for %q: %w", name, err)
		}
	}
	return nil
}

// sameArgTwice reports whether two conditions test the same argument.
func sameArgTwice(conds []libseccomp.ScmpCondition) bool {
	seen := map[uint]bool{}
	for _, c := range conds {
		if seen[c.Argument] {
			return true
		}
		seen[c.Argument] = true
	}
	return false
}

// addNewerRule handles a syscall the installed libseccomp does not know but
// husk's table does: it becomes part of the prefix on the architectures
// using the common numbering.
func addNewerRule(stubs []*archStub, name string, nr uint32, act, def action, conds []libseccomp.ScmpCondition) error {
	for _, st := range stubs {
		if st.info.generic && int64(nr|archBit(st.info)) > st.max {
			st.max = int64(nr | archBit(st.info))
		}
	}
	if act.kernel == def.kernel {
		return nil
	}
	if len(conds) > 0 {
		logrus.Warnf("seccomp: rule with argument conditions for %q skipped: the installed libseccomp does not know this syscall", name)
		return nil
	}
	for _, st := range stubs {
		if !st.info.generic {
			continue
		}
		n := nr | archBit(st.info)
		if prev, ok := st.extra[n]; ok && prev != act.kernel {
			return fmt.Errorf("seccomp: conflicting actions for syscall %q", name)
		}
		st.extra[n] = act.kernel
	}
	return nil
}

// archBit is the bit an architecture sets in every syscall number.
func archBit(info archInfo) uint32 {
	if info.x32 {
		return x32SyscallBit
	}
	return 0
}

// exportBPF asks libseccomp for the program. libseccomp 2.5 can only write
// it to a file descriptor, so it goes through a memfd.
func exportBPF(filter *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	fd, err := unix.MemfdCreate("husk-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: memfd for export: %w", err)
	}
	f := os.NewFile(uintptr(fd), "husk-seccomp")
	defer f.Close()
	if err := filter.ExportBPF(f); err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("seccomp: rewind exported filter: %w", err)
	}
	raw, err := readAll(f)
	if err != nil {
		return nil, fmt.Errorf("seccomp: read exported filter: %w", err)
	}
	return parseFilter(raw)
}

// readAll reads f to its end.
func readAll(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, st.Size())
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		if err != nil {
			return nil, err
		}
		n += m
	}
	return buf, nil
}
