package capabilities

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Set holds the five capability sets of a process as capability numbers.
type Set struct {
	Bounding    []int
	Effective   []int
	Permitted   []int
	Inheritable []int
	Ambient     []int
}

// FromSpec converts the OCI capabilities into a Set. A nil spec gives an
// empty Set (every capability dropped).
//
// Like runc 1.1, names that this build or the running kernel does not know
// are not an error: they are left out and reported with one warning,
// "ignoring unknown or unavailable capabilities: [CAP_FOO]". FromSpec fails
// only when the kernel's last capability cannot be read.
func FromSpec(c *specs.LinuxCapabilities) (*Set, error) {
	s := &Set{}
	if c == nil {
		return s, nil
	}
	last, err := LastCap()
	if err != nil {
		return nil, err
	}
	unknown := map[string]struct{}{}
	conv := func(list []string) []int {
		out := make([]int, 0, len(list))
		seen := map[int]bool{}
		for _, n := range list {
			num, err := Parse(n)
			if err != nil || num > last {
				unknown[n] = struct{}{}
				continue
			}
			if !seen[num] {
				seen[num] = true
				out = append(out, num)
			}
		}
		return out
	}
	s.Bounding = conv(c.Bounding)
	s.Effective = conv(c.Effective)
	s.Permitted = conv(c.Permitted)
	s.Inheritable = conv(c.Inheritable)
	s.Ambient = conv(c.Ambient)
	if len(unknown) > 0 {
		list := make([]string, 0, len(unknown))
		for n := range unknown {
			list = append(list, n)
		}
		sort.Strings(list)
		logrus.Warnf("ignoring unknown or unavailable capabilities: [%s]", strings.Join(list, " "))
	}
	return s, nil
}

func contains(list []int, c int) bool {
	for _, v := range list {
		if v == c {
			return true
		}
	}
	return false
}

// ApplyBounding drops from the calling thread's bounding set every capability
// up to the kernel's last one that is not in s.Bounding (PR_CAPBSET_DROP).
// It needs CAP_SETPCAP, so it runs before the user switch.
func (s *Set) ApplyBounding() error {
	last, err := LastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if contains(s.Bounding, c) {
			continue
		}
		// prctl is a per-thread call; the bounding set is per-thread. Dropping a capability that is
		// already out succeeds with CAP_SETPCAP; without it (EPERM) that is fine too.
		_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0)
		if e == unix.EPERM {
			if in, _, re := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0, 0); re == 0 && in == 0 {
				continue // already dropped
			}
		}
		if e != 0 {
			return fmt.Errorf("drop %s from the bounding set: %w", Name(c), e)
		}
	}
	return nil
}

func mask(list []int) (lo, hi uint32) {
	for _, c := range list {
		switch {
		case c < 32:
			lo |= 1 << uint(c)
		case c < 64:
			hi |= 1 << uint(c-32)
		}
	}
	return lo, hi
}

// Apply sets the calling thread's effective, permitted and inheritable sets
// with capset(2) (version 3 header, pid 0), then replaces its ambient set:
// PR_CAP_AMBIENT_CLEAR_ALL and PR_CAP_AMBIENT_RAISE for each of s.Ambient.
//
// Raw system calls are used on purpose: capabilities belong to a thread, and
// the thread that will execve is the caller. Go's all-threads wrappers (or
// glibc's setxid broadcast under cgo) are neither needed nor wanted here.
func (s *Set) Apply() error {
	var data [2]unix.CapUserData
	data[0].Effective, data[1].Effective = mask(s.Effective)
	data[0].Permitted, data[1].Permitted = mask(s.Permitted)
	data[0].Inheritable, data[1].Inheritable = mask(s.Inheritable)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("clear the ambient set: %w", e)
	}
	for _, c := range s.Ambient {
		// The kernel only raises an ambient capability that is permitted and inheritable. runc 1.1 ignores
		// the failure, and `runc spec` (so most bundles) lists ambient caps without inheritable ones; so do
		// we: such a capability is left out (AmbientDropped tells the caller which, to warn).
		if !has(s.Permitted, c) || !has(s.Inheritable, c) {
			continue
		}
		if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0, 0); e != 0 {
			return fmt.Errorf("raise ambient %s (it must be permitted and inheritable): %w", Name(c), e)
		}
	}
	return nil
}

// AmbientDropped lists the ambient capabilities Apply leaves out because they are not both permitted
// and inheritable.
func (s *Set) AmbientDropped() []string {
	var out []string
	for _, c := range s.Ambient {
		if !has(s.Permitted, c) || !has(s.Inheritable, c) {
			out = append(out, Name(c))
		}
	}
	return out
}

func has(set []int, c int) bool {
	for _, x := range set {
		if x == c {
			return true
		}
	}
	return false
}

// Current reads the calling thread's capability sets from
// /proc/thread-self/status (not /proc/self, which shows the main thread).
func Current() (*Set, error) {
	f, err := os.Open("/proc/thread-self/status")
	if err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	defer f.Close()
	s := &Set{}
	fields := map[string]*[]int{
		"CapInh": &s.Inheritable, "CapPrm": &s.Permitted, "CapEff": &s.Effective,
		"CapBnd": &s.Bounding, "CapAmb": &s.Ambient,
	}
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		dst, want := fields[k]
		if !ok || !want {
			continue
		}
		bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", k, err)
		}
		list := []int{}
		for c := 0; c < 64; c++ {
			if bits&(1<<uint(c)) != 0 {
				list = append(list, c)
			}
		}
		*dst = list
		found++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	if found != len(fields) {
		return nil, fmt.Errorf("read capabilities: %d of %d Cap lines in status", found, len(fields))
	}
	return s, nil
}
