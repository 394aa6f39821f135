package seccomp

// The analysis behind optimize (optimize.go): a walk of every path of a program with the
// architecture and the syscall number left symbolic (explore), and its partial evaluation for one
// architecture and number (specialise).

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

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
