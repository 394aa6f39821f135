package procattr

import (
	"errors"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rlimits maps the OCI names to resource numbers (the Linux generic ones,
// which amd64 and arm64 share).
var rlimits = map[string]int{
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
}

// ParseRlimit returns the resource number of an OCI rlimit type such as
// "RLIMIT_NOFILE".
func ParseRlimit(name string) (int, error) {
	r, ok := rlimits[name]
	if !ok {
		return -1, fmt.Errorf("unknown rlimit type %q", name)
	}
	return r, nil
}

// SetRlimits applies each limit to the process (rlimits are per-process).
// All types are checked before any limit is set. It uses prlimit(2) on the
// process itself, which also tells Go's syscall.Exec not to restore its
// startup RLIMIT_NOFILE over the one set here.
func SetRlimits(limits []specs.POSIXRlimit) error {
	res := make([]int, len(limits))
	for i, l := range limits {
		r, err := ParseRlimit(l.Type)
		if err != nil {
			return err
		}
		res[i] = r
	}
	for i, l := range limits {
		if l.Soft > l.Hard {
			return fmt.Errorf("set %s: soft limit %d is above hard limit %d", l.Type, l.Soft, l.Hard)
		}
		var old unix.Rlimit
		if err := unix.Prlimit(0, res[i], nil, &old); err != nil {
			return fmt.Errorf("get %s: %w", l.Type, err)
		}
		lim := unix.Rlimit{Cur: l.Soft, Max: l.Hard}
		if err := unix.Prlimit(0, res[i], &lim, nil); err != nil {
			if errors.Is(err, unix.EPERM) && l.Hard > old.Max {
				return fmt.Errorf("set %s to soft %d, hard %d: %w (raising the hard limit above %d needs CAP_SYS_RESOURCE)",
					l.Type, l.Soft, l.Hard, err, old.Max)
			}
			return fmt.Errorf("set %s to soft %d, hard %d: %w", l.Type, l.Soft, l.Hard, err)
		}
	}
	return nil
}
