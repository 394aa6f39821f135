package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// asm assembles instructions whose jumps name labels; conditional jumps
// that cannot reach their target in 8 bits get a JA trampoline. A label may
// also stand after the last instruction: the ENOSYS prefix jumps there, to
// the program that follows it.
type asm struct {
	ins    []lins
	labels map[string]int // label -> index in ins (len(ins): the end)
	n      int
}

// lins is one instruction, with its jump targets when they are labels.

type lins struct {
	in         unix.SockFilter
	t, f       string // targets of a conditional jump (both), or of a JA (t)
	farT, farF bool
}

func newAsm() *asm { return &asm{labels: map[string]int{}} }

func (a *asm) newLabel() string {
	a.n++
	return fmt.Sprintf(".L%d", a.n)
}

func (a *asm) label(name string) { a.labels[name] = len(a.ins) }

func (a *asm) raw(in unix.SockFilter) { a.ins = append(a.ins, lins{in: in}) }

// emit is raw with the fields spelt out; jt and jf are plain offsets.
func (a *asm) emit(code uint16, jt, jf uint8, k uint32) {
	a.raw(unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
}

func (a *asm) cond(code uint16, k uint32, t, f string) {
	a.ins = append(a.ins, lins{in: unix.SockFilter{Code: code, K: k}, t: t, f: f})
}

func (a *asm) jump(t string) {
	a.ins = append(a.ins, lins{in: unix.SockFilter{Code: opJa}, t: t})
}

// assemble resolves the labels.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	target := func(i int, name string) (int, error) {
		t, ok := a.labels[name]
		if !ok || t <= i || t > len(a.ins) {
			return 0, fmt.Errorf("seccomp: internal error: bad jump to %q", name)
		}
		return t, nil
	}
	for {
		pos := make([]int, len(a.ins)+1) // pos[len(a.ins)]: the end
		p := 0
		for i, in := range a.ins {
			pos[i] = p
			p++
			if in.farT {
				p++
			}
			if in.farF {
				p++
			}
		}
		pos[len(a.ins)] = p
		changed := false
		out := make([]unix.SockFilter, 0, p)
		for i := range a.ins {
			in := a.ins[i]
			switch {
			case in.t == "":
				out = append(out, in.in)
			case in.in.Code == opJa:
				t, err := target(i, in.t)
				if err != nil {
					return nil, err
				}
				in.in.K = uint32(pos[t] - pos[i] - 1)
				out = append(out, in.in)
			default:
				t, err := target(i, in.t)
				if err != nil {
					return nil, err
				}
				f, err := target(i, in.f)
				if err != nil {
					return nil, err
				}
				c := in.in
				var tramp []unix.SockFilter
				// branch sets one offset of the jump: to the target, or to a
				// trampoline after the jump once the target is out of reach.
				branch := func(far *bool, to int, off *uint8) {
					if *far {
						*off = uint8(len(tramp))
						tramp = append(tramp, unix.SockFilter{Code: opJa, K: uint32(pos[to] - pos[i] - 2 - len(tramp))})
					} else if d := pos[to] - pos[i] - 1; d > 255 {
						*far, changed = true, true
					} else {
						*off = uint8(d)
					}
				}
				branch(&a.ins[i].farT, t, &c.Jt)
				branch(&a.ins[i].farF, f, &c.Jf)
				out = append(out, c)
				out = append(out, tramp...)
			}
		}
		if !changed {
			return out, nil
		}
	}
}

// span is a range of syscall numbers (or architectures) from lo up to the
// next span's lo, and where it goes.
type span struct {
	lo     uint32
	target string
}

// tree emits a binary search over spans (sorted, the first starting at 0)
// with A holding the value, and returns the label to enter it at: its first
// instruction, or the only span's target.
func (a *asm) tree(spans []span) string {
	if len(spans) == 1 {
		return spans[0].target
	}
	m := len(spans) / 2
	l := a.newLabel()
	a.label(l)
	at := len(a.ins)
	a.cond(opJge, spans[m].lo, "", "")
	left := a.tree(spans[:m])
	right := a.tree(spans[m:])
	a.ins[at].t, a.ins[at].f = right, left
	return l
}

// enterTree emits a load of the value at off, then the search over spans.
func (a *asm) enterTree(off uint32, spans []span) {
	if len(spans) == 1 {
		a.jump(spans[0].target)
		return
	}
	a.raw(unix.SockFilter{Code: opLdAbs, K: off})
	a.tree(spans)
}
