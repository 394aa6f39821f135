package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"sort"

	"golang.org/x/sys/unix"
)

// The program's layout
//
// libseccomp lays a filter out as one chain of "number == N?" tests per
// architecture: the typical docker-like profile, on x86_64 with x86 and x32,
// is close to 1,000 instructions. The kernel pays for that length at every
// load: it converts and JIT-compiles the program, then runs it once for every
// syscall number of the native and the compat architecture to fill its
// "always allowed" cache, each run walking the chain. That is ~0.8 ms per
// container start and per exec, the single largest kernel cost of both.
//
// optimize rebuilds the same decisions as a test of the architecture, then a
// binary search over ranges of syscall numbers whose outcome is the same,
// ending in a return. Numbers whose outcome depends on the arguments go to a
// residual program: libseccomp's own instructions for that call, specialised
// for its architecture and number. The result is a few hundred instructions
// and about ten tests deep.
//
// It is derived, not guessed:
//   - explore walks every path of the original program with the architecture
//     (and then the number) left symbolic, and collects every constant they are
//     compared with. Between two such cut points every comparison gives the
//     same answer, so one representative decides a whole range. Anything the
//     walk cannot model (the X register, scratch memory, a JSET or arithmetic
//     on the number or architecture, returning them) makes optimize give up,
//     and the caller keeps libseccomp's program.
//   - specialise partially evaluates the original program for one
//     architecture and number: tests of those are folded, tests of arguments
//     are kept. The result is either one return value or a residual program.
//   - the new program is then checked against the original with the BPF
//     interpreter at both ends of every range, and where arguments matter
//     with inputs chosen to take every path of the residual program; any
//     difference is an error and the original is kept.
//
// Outside the residual programs, the new program uses only the instructions
// the kernel's cache emulator understands (loads of nr and arch, JEQ/JGE/JA,
// RET K), so that cache keeps working and allowed calls skip the filter.

// errNotModelled is returned when the program uses something the analysis
// does not follow.
var errNotModelled = errors.New("seccomp: optimise: program not modelled")

// absKind is what the analysis knows about a value.
type absKind uint8

const (
	absConst absKind = iota // a known constant
	absArch                 // the architecture, unchanged
	absNr                   // the syscall number, unchanged
	absArg                  // computed from arguments or the instruction pointer only
	absMixed                // computed from the architecture or the number
)

type absVal struct {
	kind absKind
	c    uint32
}

type absKey struct {
	pc int
	a  absVal
}

// maxAbsStates bounds the walk; libseccomp's programs need a few thousand.
const maxAbsStates = 1 << 18

// sizeofSeccompData is what BPF_LEN loads under seccomp.
const sizeofSeccompData = 64

// absLoad is what BPF_LD|BPF_W|BPF_ABS at offset k loads.
func absLoad(k uint32, arch, nr absVal) (absVal, error) {
	switch {
	case k == offNr:
		return nr, nil
	case k == offArch:
		return arch, nil
	case k%4 == 0 && k >= 8 && k < sizeofSeccompData:
		return absVal{kind: absArg}, nil
	}
	return absVal{}, fmt.Errorf("%w: load at offset %d", errNotModelled, k)
}

// absALU applies a BPF_ALU|BPF_K instruction.
func absALU(in unix.SockFilter, a absVal) (absVal, error) {
	if in.Code&0x08 == unix.BPF_X {
		return absVal{}, fmt.Errorf("%w: ALU on X", errNotModelled)
	}
	if in.Code == unix.BPF_ALU|unix.BPF_AND|unix.BPF_K && in.K == 0 {
		// libseccomp masks the upper half of an argument with 0 for a
		// 32-bit masked comparison: the test that follows is decided.
		return absVal{kind: absConst}, nil
	}
	switch a.kind {
	case absConst:
		v, err := alu(in, a.c, 0)
		if err != nil {
			return absVal{}, fmt.Errorf("%w: %v", errNotModelled, err)
		}
		return absVal{kind: absConst, c: v}, nil
	case absArg:
		return a, nil
	}
	return absVal{kind: absMixed}, nil
}

const jmpOpMask = 0xf0

// breakpoints are where the outcome of comparisons with a value can change:
// the value v and v+1 split the range for JEQ, v for JGE, v+1 for JGT.
type breakpoints map[uint32]struct{}

func (b breakpoints) add(in unix.SockFilter) {
	switch in.Code & jmpOpMask {
	case unix.BPF_JEQ:
		b[in.K] = struct{}{}
		if in.K != ^uint32(0) {
			b[in.K+1] = struct{}{}
		}
	case unix.BPF_JGE:
		b[in.K] = struct{}{}
	case unix.BPF_JGT:
		if in.K != ^uint32(0) {
			b[in.K+1] = struct{}{}
		}
	}
}

// starts returns the sorted starts of the ranges the breakpoints make; the
// first is 0.
func (b breakpoints) starts() []uint32 {
	out := []uint32{0}
	for v := range b {
		if v != 0 {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// explore walks every path of prog with arch and nr as given (constants or
// symbols) and returns the breakpoints of the comparisons made with the
// symbolic architecture and number.
func explore(prog []unix.SockFilter, arch, nr absVal) (archCuts, nrCuts breakpoints, err error) {
	archCuts, nrCuts = breakpoints{}, breakpoints{}
	seen := map[absKey]struct{}{}
	stack := []absKey{{pc: 0, a: absVal{kind: absConst}}}
	push := func(pc int, a absVal) {
		k := absKey{pc, a}
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			stack = append(stack, k)
		}
	}
	for len(stack) > 0 {
		if len(seen) > maxAbsStates {
			return nil, nil, fmt.Errorf("%w: too many states", errNotModelled)
		}
		st := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		pc, a := st.pc, st.a
		if pc >= len(prog) {
			return nil, nil, fmt.Errorf("%w: runs off its end", errNotModelled)
		}
		in := prog[pc]
		switch {
		case in.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_ABS:
			v, err := absLoad(in.K, arch, nr)
			if err != nil {
				return nil, nil, err
			}
			push(pc+1, v)
		case in.Code == unix.BPF_LD|unix.BPF_IMM:
			push(pc+1, absVal{kind: absConst, c: in.K})
		case in.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_LEN:
			push(pc+1, absVal{kind: absConst, c: sizeofSeccompData})
		case in.Code&0x07 == unix.BPF_ALU:
			v, err := absALU(in, a)
			if err != nil {
				return nil, nil, err
			}
			push(pc+1, v)
		case in.Code == unix.BPF_JMP|unix.BPF_JA:
			push(pc+1+int(in.K), a)
		case in.Code&0x07 == unix.BPF_JMP:
			if in.Code&0x08 == unix.BPF_X {
				return nil, nil, fmt.Errorf("%w: jump on X", errNotModelled)
			}
			op := in.Code & jmpOpMask
			if op != unix.BPF_JEQ && op != unix.BPF_JGE && op != unix.BPF_JGT && op != unix.BPF_JSET {
				return nil, nil, fmt.Errorf("%w: instruction %#x", errNotModelled, in.Code)
			}
			switch a.kind {
			case absConst:
				j, _ := cond(in, a.c, 0)
				push(pc+1+j, a)
				continue
			case absArch, absNr:
				if op == unix.BPF_JSET {
					return nil, nil, fmt.Errorf("%w: JSET on the syscall number or architecture", errNotModelled)
				}
				if a.kind == absArch {
					archCuts.add(in)
				} else {
					nrCuts.add(in)
				}
			case absMixed:
				return nil, nil, fmt.Errorf("%w: test of a value computed from the syscall number or architecture", errNotModelled)
			}
			push(pc+1+int(in.Jt), a)
			push(pc+1+int(in.Jf), a)
		case in.Code == unix.BPF_RET|unix.BPF_K:
		case in.Code == unix.BPF_RET|unix.BPF_A:
			if a.kind != absConst && a.kind != absArg {
				return nil, nil, fmt.Errorf("%w: returns the syscall number or architecture", errNotModelled)
			}
		default:
			return nil, nil, fmt.Errorf("%w: instruction %#x", errNotModelled, in.Code)
		}
	}
	return archCuts, nrCuts, nil
}

// resNode is one instruction of a residual program.
type resNode struct {
	in      unix.SockFilter
	pc      int // where in the original program it comes from (for ordering)
	next    int // successor of a load or ALU instruction
	jt, jf  int // successors of a conditional jump
	isCond  bool
	isRet   bool
	visited bool
}

// specialiser partially evaluates a program for one architecture and number.
type specialiser struct {
	prog     []unix.SockFilter
	arch, nr absVal
	nodes    []resNode
	memo     map[absKey]int
}

func newSpecialiser(prog []unix.SockFilter, arch, nr uint32) *specialiser {
	return &specialiser{
		prog: prog,
		arch: absVal{kind: absConst, c: arch},
		nr:   absVal{kind: absConst, c: nr},
		memo: map[absKey]int{},
	}
}

// at returns the residual node for the program from pc on with A as given;
// absArg means A holds its real value at run time.
func (s *specialiser) at(pc int, a absVal) (int, error) {
	var passed []absKey
	done := func(id int) (int, error) {
		for _, k := range passed {
			s.memo[k] = id
		}
		return id, nil
	}
	for steps := 0; ; steps++ {
		key := absKey{pc, a}
		if id, ok := s.memo[key]; ok {
			return done(id)
		}
		passed = append(passed, key)
		if pc >= len(s.prog) || steps > len(s.prog) {
			return 0, fmt.Errorf("%w: runs off its end", errNotModelled)
		}
		if len(s.nodes) > maxFilterLen {
			return 0, fmt.Errorf("%w: residual program too long", errNotModelled)
		}
		in := s.prog[pc]
		switch {
		case in.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_ABS:
			v, err := absLoad(in.K, s.arch, s.nr)
			if err != nil {
				return 0, err
			}
			if v.kind == absConst {
				a, pc = v, pc+1
				continue
			}
			id := s.add(resNode{in: in, pc: pc})
			next, err := s.at(pc+1, absVal{kind: absArg})
			if err != nil {
				return 0, err
			}
			s.nodes[id].next = next
			return done(id)
		case in.Code == unix.BPF_LD|unix.BPF_IMM:
			a, pc = absVal{kind: absConst, c: in.K}, pc+1
		case in.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_LEN:
			a, pc = absVal{kind: absConst, c: sizeofSeccompData}, pc+1
		case in.Code&0x07 == unix.BPF_ALU:
			v, err := absALU(in, a)
			if err != nil {
				return 0, err
			}
			if v.kind == absConst {
				a, pc = v, pc+1
				continue
			}
			if a.kind != absArg {
				return 0, fmt.Errorf("%w: ALU on a folded value", errNotModelled)
			}
			id := s.add(resNode{in: in, pc: pc})
			next, err := s.at(pc+1, a)
			if err != nil {
				return 0, err
			}
			s.nodes[id].next = next
			return done(id)
		case in.Code == unix.BPF_JMP|unix.BPF_JA:
			pc += 1 + int(in.K)
		case in.Code&0x07 == unix.BPF_JMP:
			if in.Code&0x08 == unix.BPF_X {
				return 0, fmt.Errorf("%w: jump on X", errNotModelled)
			}
			switch a.kind {
			case absConst:
				j, err := cond(in, a.c, 0)
				if err != nil {
					return 0, fmt.Errorf("%w: %v", errNotModelled, err)
				}
				pc += 1 + j
				continue
			case absArg:
			default:
				return 0, fmt.Errorf("%w: symbolic test", errNotModelled)
			}
			id := s.add(resNode{in: in, pc: pc, isCond: true})
			t, err := s.at(pc+1+int(in.Jt), a)
			if err != nil {
				return 0, err
			}
			f, err := s.at(pc+1+int(in.Jf), a)
			if err != nil {
				return 0, err
			}
			s.nodes[id].jt, s.nodes[id].jf = t, f
			return done(id)
		case in.Code == unix.BPF_RET|unix.BPF_K:
			return done(s.add(resNode{in: in, pc: pc, isRet: true}))
		case in.Code == unix.BPF_RET|unix.BPF_A:
			switch a.kind {
			case absConst:
				return done(s.add(resNode{in: unix.SockFilter{Code: opRet, K: a.c}, pc: pc, isRet: true}))
			case absArg:
				return done(s.add(resNode{in: in, pc: pc, isRet: true}))
			}
			return 0, fmt.Errorf("%w: returns a symbolic value", errNotModelled)
		default:
			return 0, fmt.Errorf("%w: instruction %#x", errNotModelled, in.Code)
		}
	}
}

func (s *specialiser) add(n resNode) int {
	s.nodes = append(s.nodes, n)
	return len(s.nodes) - 1
}

// outcome of one syscall-number range: a constant return or a residual
// program.
type outcome struct {
	ret      uint32
	residual []unix.SockFilter // nil for a constant return
}

// specialise evaluates prog for arch and nr; it returns the constant result
// or the residual program.
func specialise(prog []unix.SockFilter, arch, nr uint32) (outcome, error) {
	if ret, ok := constOutcome(prog, arch, nr); ok {
		return outcome{ret: ret}, nil
	}
	s := newSpecialiser(prog, arch, nr)
	root, err := s.at(0, absVal{kind: absConst})
	if err != nil {
		return outcome{}, err
	}
	if n := s.nodes[root]; n.isRet && n.in.Code == opRet {
		return outcome{ret: n.in.K}, nil
	}
	res, err := s.linearise(root)
	if err != nil {
		return outcome{}, err
	}
	return outcome{residual: res}, nil
}

// constOutcome follows prog for arch and nr while it tests only those and
// reports the value it returns; ok is false as soon as it loads anything
// else (the specialiser takes over then) or meets anything unusual.
func constOutcome(prog []unix.SockFilter, arch, nr uint32) (ret uint32, ok bool) {
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch {
		case in.Code == opLdAbs && in.K == offNr:
			a = nr
		case in.Code == opLdAbs && in.K == offArch:
			a = arch
		case in.Code == opJa:
			pc += int(in.K)
		case in.Code == opJeq:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case in.Code&0x07 == unix.BPF_JMP && in.Code&0x08 == unix.BPF_K:
			j, err := cond(in, a, 0)
			if err != nil {
				return 0, false
			}
			pc += j
		case in.Code == opRet:
			return in.K, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// linearise lays the residual nodes reachable from root out as a program.
func (s *specialiser) linearise(root int) ([]unix.SockFilter, error) {
	var order []int
	var visit func(int)
	visit = func(id int) {
		n := &s.nodes[id]
		if n.visited {
			return
		}
		n.visited = true
		order = append(order, id)
		switch {
		case n.isCond:
			visit(n.jt)
			visit(n.jf)
		case !n.isRet:
			visit(n.next)
		}
	}
	visit(root)
	// Successors come from later instructions of the original program, so
	// its order is a topological one; the root has the lowest pc.
	sort.SliceStable(order, func(i, j int) bool { return s.nodes[order[i]].pc < s.nodes[order[j]].pc })
	a := newAsm()
	label := func(id int) string { return fmt.Sprintf("n%d", id) }
	for i, id := range order {
		n := s.nodes[id]
		a.label(label(id))
		switch {
		case n.isCond:
			a.cond(n.in.Code, n.in.K, label(n.jt), label(n.jf))
		case n.isRet:
			a.raw(n.in)
		default:
			a.raw(n.in)
			if i+1 >= len(order) || order[i+1] != n.next {
				a.jump(label(n.next))
			}
		}
	}
	return a.assemble()
}

// retPool hands out labels for return instructions and emits them.
type retPool struct {
	prefix string
	used   map[uint32]bool
}

func (r *retPool) label(k uint32) string {
	r.used[k] = true
	return fmt.Sprintf("%s:%x", r.prefix, k)
}

func (r *retPool) emit(a *asm) {
	ks := make([]uint32, 0, len(r.used))
	for k := range r.used {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	for _, k := range ks {
		a.label(fmt.Sprintf("%s:%x", r.prefix, k))
		a.raw(unix.SockFilter{Code: opRet, K: k})
	}
}

// archPlan is what the new program does for one range of architectures.
type archPlan struct {
	lo, hi uint32
	nrs    []uint32  // starts of the syscall-number ranges
	outs   []outcome // their outcomes
}

// optimize returns a program that decides exactly like prog for every
// input, laid out as described above, or an error when prog is not one the
// analysis models. The caller keeps prog then.
func optimize(prog []unix.SockFilter) ([]unix.SockFilter, error) {
	plans, err := plan(prog)
	if err != nil {
		return nil, err
	}
	out, err := build(plans)
	if err != nil {
		return nil, err
	}
	if err := sameDecisions(prog, out, plans); err != nil {
		return nil, err
	}
	return out, nil
}

// plan derives, for every range of architectures, the ranges of syscall
// numbers with one outcome each.
func plan(prog []unix.SockFilter) ([]archPlan, error) {
	archCuts, _, err := explore(prog, absVal{kind: absArch}, absVal{kind: absNr})
	if err != nil {
		return nil, err
	}
	archStarts := archCuts.starts()
	plans := make([]archPlan, 0, len(archStarts))
	for i, lo := range archStarts {
		hi := ^uint32(0)
		if i+1 < len(archStarts) {
			hi = archStarts[i+1] - 1
		}
		_, nrCuts, err := explore(prog, absVal{kind: absConst, c: lo}, absVal{kind: absNr})
		if err != nil {
			return nil, err
		}
		p := archPlan{lo: lo, hi: hi}
		for _, nr := range nrCuts.starts() {
			o, err := specialise(prog, lo, nr)
			if err != nil {
				return nil, err
			}
			// Merge with the previous range when both return the same.
			if n := len(p.outs); n > 0 && o.residual == nil && p.outs[n-1].residual == nil && p.outs[n-1].ret == o.ret {
				continue
			}
			p.nrs = append(p.nrs, nr)
			p.outs = append(p.outs, o)
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// build lays the plans out as a program.
func build(plans []archPlan) ([]unix.SockFilter, error) {
	a := newAsm()
	residuals := map[string]string{} // program bytes -> label
	var residualOrder []string
	var residualProgs [][]unix.SockFilter
	residualLabel := func(r []unix.SockFilter) string {
		key := string(filterBytes(r))
		if l, ok := residuals[key]; ok {
			return l
		}
		l := fmt.Sprintf("residual%d", len(residualOrder))
		residuals[key] = l
		residualOrder = append(residualOrder, l)
		residualProgs = append(residualProgs, r)
		return l
	}
	target := func(o outcome, pool *retPool) string {
		if o.residual != nil {
			return residualLabel(o.residual)
		}
		return pool.label(o.ret)
	}

	// The architecture dispatch; ranges that do the same are merged.
	top := &retPool{prefix: "ret", used: map[uint32]bool{}}
	var archSpans []span
	var blocks []int
	for i, p := range plans {
		var t string
		if len(p.outs) == 1 {
			t = target(p.outs[0], top)
		} else {
			t = fmt.Sprintf("arch%d", i)
			blocks = append(blocks, i)
		}
		if n := len(archSpans); n > 0 && archSpans[n-1].target == t {
			continue
		}
		archSpans = append(archSpans, span{lo: p.lo, target: t})
	}
	a.enterTree(offArch, archSpans)
	top.emit(a)
	for _, i := range blocks {
		p := plans[i]
		a.label(fmt.Sprintf("arch%d", i))
		pool := &retPool{prefix: fmt.Sprintf("ret%d", i), used: map[uint32]bool{}}
		spans := make([]span, len(p.nrs))
		for j := range p.nrs {
			spans[j] = span{lo: p.nrs[j], target: target(p.outs[j], pool)}
		}
		a.enterTree(offNr, spans)
		pool.emit(a)
	}
	for i, l := range residualOrder {
		a.label(l)
		for _, in := range residualProgs[i] {
			a.raw(in)
		}
	}
	out, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(out) > maxFilterLen {
		return nil, fmt.Errorf("seccomp: optimise: %d instructions", len(out))
	}
	return out, nil
}

// sameDecisions checks the new program against the original with the
// interpreter at both ends of every range, with zero, all-ones and
// pseudo-random arguments; where the outcome depends on the arguments, also
// with inputs chosen to take every path of the residual program.
func sameDecisions(orig, opt []unix.SockFilter, plans []archPlan) error {
	rnd := rand.New(rand.NewSource(1))
	inputs := []map[uint32]uint32{{}, allWords(^uint32(0))}
	var more []map[uint32]uint32
	for i := 0; i < 16; i++ {
		w := map[uint32]uint32{}
		for off := uint32(16); off < sizeofSeccompData; off += 4 {
			switch rnd.Intn(3) {
			case 0:
				w[off] = uint32(rnd.Intn(64))
			case 1:
				w[off] = uint32(1) << uint(rnd.Intn(32))
			default:
				w[off] = rnd.Uint32()
			}
		}
		more = append(more, w)
	}
	check := func(arch, nr uint32, words map[uint32]uint32) error {
		var data [sizeofSeccompData]byte
		putData(&data, arch, nr, [6]uint64{})
		for off, v := range words {
			binary.NativeEndian.PutUint32(data[off:], v)
		}
		want, err := runBPF(orig, data[:])
		if err != nil {
			return err
		}
		got, err := runBPF(opt, data[:])
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("seccomp: optimise: arch %#x nr %d input %v: %#x, want %#x", arch, nr, words, got, want)
		}
		return nil
	}
	ends := func(lo, hi uint32) []uint32 {
		if lo == hi {
			return []uint32{lo}
		}
		return []uint32{lo, hi}
	}
	for _, p := range plans {
		for _, arch := range ends(p.lo, p.hi) {
			for j, lo := range p.nrs {
				hi := ^uint32(0)
				if j+1 < len(p.nrs) {
					hi = p.nrs[j+1] - 1
				}
				sets := inputs
				if r := p.outs[j].residual; r != nil {
					sets = append(append(sets[:len(sets):len(sets)], more...), pathInputs(r)...)
				}
				for _, nr := range ends(lo, hi) {
					for _, words := range sets {
						if err := check(arch, nr, words); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}

// allWords sets every word after arch (instruction pointer, arguments) to v.
func allWords(v uint32) map[uint32]uint32 {
	w := map[uint32]uint32{}
	for off := uint32(8); off < sizeofSeccompData; off += 4 {
		w[off] = v
	}
	return w
}

// wordTest is one outcome of a test of a loaded word, possibly masked.
type wordTest struct {
	mask uint32
	in   unix.SockFilter
	want bool
}

// pathInputs returns, for every path of a residual program (loads of words
// of seccomp_data, AND masks, tests against constants, returns), words that
// make it take that path, when simple candidates find them.
func pathInputs(res []unix.SockFilter) []map[uint32]uint32 {
	var out []map[uint32]uint32
	tests := map[uint32][]wordTest{}
	var walk func(pc int, off, mask uint32, budget *int)
	walk = func(pc int, off, mask uint32, budget *int) {
		if *budget--; *budget < 0 || pc >= len(res) {
			return
		}
		in := res[pc]
		switch {
		case in.Code == opLdAbs:
			walk(pc+1, in.K, ^uint32(0), budget)
		case in.Code == unix.BPF_ALU|unix.BPF_AND|unix.BPF_K:
			walk(pc+1, off, mask&in.K, budget)
		case in.Code == opJa:
			walk(pc+1+int(in.K), off, mask, budget)
		case in.Code&0x07 == unix.BPF_JMP && in.Code&0x08 == unix.BPF_K && off != 0:
			for _, taken := range []bool{true, false} {
				tests[off] = append(tests[off], wordTest{mask: mask, in: in, want: taken})
				next := pc + 1 + int(in.Jf)
				if taken {
					next = pc + 1 + int(in.Jt)
				}
				walk(next, off, mask, budget)
				tests[off] = tests[off][:len(tests[off])-1]
			}
		case in.Code&0x07 == unix.BPF_RET:
			if words, ok := solveWords(tests); ok {
				out = append(out, words)
			}
		}
		// Anything else: the path is left to the other inputs.
	}
	budget := 1 << 14
	walk(0, 0, ^uint32(0), &budget)
	return out
}

// solveWords finds, for each word, a value passing all its tests among
// values next to the constants tested.
func solveWords(tests map[uint32][]wordTest) (map[uint32]uint32, bool) {
	words := map[uint32]uint32{}
	for off, ts := range tests {
		if len(ts) == 0 {
			continue
		}
		cands := []uint32{0, ^uint32(0)}
		for _, t := range ts {
			k, m := t.in.K, t.mask
			cands = append(cands, k, k+1, k-1, k|^m, k^(m&-m), ^k)
		}
		found := false
		for _, v := range cands {
			ok := true
			for _, t := range ts {
				if t.in.Jt == t.in.Jf {
					continue // both outcomes lead to the same place
				}
				j, _ := cond(t.in, v&t.mask, 0)
				if (j == int(t.in.Jt)) != t.want {
					ok = false
					break
				}
			}
			if ok {
				words[off], found = v, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return words, true
}
