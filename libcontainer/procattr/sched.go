package procattr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther:    0,
	specs.SchedFIFO:     1,
	specs.SchedRR:       2,
	specs.SchedBatch:    3,
	specs.SchedISO:      4, // reserved by Linux; the kernel refuses it
	specs.SchedIdle:     5,
	specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork:  0x01,
	specs.SchedFlagReclaim:      0x02,
	specs.SchedFlagDLOverrun:    0x04,
	specs.SchedFlagKeepPolicy:   0x08,
	specs.SchedFlagKeepParams:   0x10,
	specs.SchedFlagUtilClampMin: 0x20,
	specs.SchedFlagUtilClampMax: 0x40,
}

// SchedAttr converts the OCI scheduler settings into a sched_attr.
func SchedAttr(s *specs.Scheduler) (*unix.SchedAttr, error) {
	policy, ok := schedPolicies[s.Policy]
	if !ok {
		return nil, fmt.Errorf("unknown scheduler policy %q", s.Policy)
	}
	var flags uint64
	for _, f := range s.Flags {
		v, ok := schedFlags[f]
		if !ok {
			return nil, fmt.Errorf("unknown scheduler flag %q", f)
		}
		flags |= v
	}
	if s.Priority < 0 {
		return nil, fmt.Errorf("invalid scheduler priority %d", s.Priority)
	}
	return &unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   policy,
		Flags:    flags,
		Nice:     s.Nice,
		Priority: uint32(s.Priority),
		Runtime:  s.Runtime,
		Deadline: s.Deadline,
		Period:   s.Period,
	}, nil
}

// SetScheduler applies s to the calling thread with sched_setattr(2). A nil
// s does nothing.
func SetScheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	attr, err := SchedAttr(s)
	if err != nil {
		return err
	}
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		return fmt.Errorf("sched_setattr %s (nice %d, priority %d): %w", s.Policy, s.Nice, s.Priority, err)
	}
	return nil
}

// I/O priority classes and the ioprio_set "who" of linux/ioprio.h.
const (
	ioprioClassShift = 13
	ioprioWhoProcess = 1
)

var ioprioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT:   1,
	specs.IOPRIO_CLASS_BE:   2,
	specs.IOPRIO_CLASS_IDLE: 3,
}

// SetIOPriority applies the I/O priority to the calling thread with
// ioprio_set(2). A nil p does nothing.
func SetIOPriority(p *specs.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return fmt.Errorf("unknown I/O priority class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return fmt.Errorf("invalid I/O priority %d for %s: want 0 to 7", p.Priority, p.Class)
	}
	prio := class<<ioprioClassShift | p.Priority
	if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); e != 0 {
		return fmt.Errorf("ioprio_set %s %d: %w", p.Class, p.Priority, e)
	}
	return nil
}

// ParseCPUList parses a cpu list such as "0-3,7" into a CPUSet.
func ParseCPUList(cpus string) (*unix.CPUSet, error) {
	set := &unix.CPUSet{}
	max := len(set) * 64
	if strings.TrimSpace(cpus) == "" {
		return nil, fmt.Errorf("invalid cpu list %q: empty", cpus)
	}
	for _, part := range strings.Split(cpus, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("invalid cpu list %q: bad cpu %q", cpus, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("invalid cpu list %q: bad range %q", cpus, part)
			}
		}
		if b >= max {
			return nil, fmt.Errorf("invalid cpu list %q: cpu %d above %d", cpus, b, max-1)
		}
		for c := a; c <= b; c++ {
			set.Set(c)
		}
	}
	return set, nil
}

// SetCPUAffinity pins the calling thread to the cpus of a list such as
// "0-3,7" (sched_setaffinity). An empty string does nothing.
func SetCPUAffinity(cpus string) error {
	if cpus == "" {
		return nil
	}
	set, err := ParseCPUList(cpus)
	if err != nil {
		return err
	}
	if err := unix.SchedSetaffinity(0, set); err != nil {
		return fmt.Errorf("set cpu affinity %q: %w", cpus, err)
	}
	return nil
}
