package seccomp

// The check of an optimised program against the original, before it is used (see optimize.go).

import (
	"encoding/binary"
	"fmt"
	"math/rand"

	"golang.org/x/sys/unix"
)

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
