package seccomp

import (
	"fmt"
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
//   - explore (specialise.go) walks every path of the original program with the architecture
//     (and then the number) left symbolic, and collects every constant they are
//     compared with. Between two such cut points every comparison gives the
//     same answer, so one representative decides a whole range. Anything the
//     walk cannot model (the X register, scratch memory, a JSET or arithmetic
//     on the number or architecture, returning them) makes optimize give up,
//     and the caller keeps libseccomp's program.
//   - specialise partially evaluates the original program for one
//     architecture and number: tests of those are folded, tests of arguments
//     are kept. The result is either one return value or a residual program.
//   - the new program is then checked against the original (optimize_check.go) with the BPF
//     interpreter at both ends of every range, and where arguments matter
//     with inputs chosen to take every path of the residual program; any
//     difference is an error and the original is kept.
//
// Outside the residual programs, the new program uses only the instructions
// the kernel's cache emulator understands (loads of nr and arch, JEQ/JGE/JA,
// RET K), so that cache keeps working and allowed calls skip the filter.

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
	// Residual programs, identical ones shared, each laid out once after the searches.
	var residuals [][]unix.SockFilter
	index := map[string]int{} // program bytes -> index in residuals
	residualLabel := func(r []unix.SockFilter) string {
		key := string(filterBytes(r))
		i, ok := index[key]
		if !ok {
			i = len(residuals)
			index[key] = i
			residuals = append(residuals, r)
		}
		return fmt.Sprintf("residual%d", i)
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
	for i, r := range residuals {
		a.label(fmt.Sprintf("residual%d", i))
		for _, in := range r {
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
