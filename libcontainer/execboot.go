package libcontainer

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/procattr"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
	hsync "github.com/husk-runtime/husk/libcontainer/sync"
)

// execInitEnv set to "go" makes `husk exec` always use the Go init (a switch for tests and debugging:
// both paths must behave alike).
const execInitEnv = "HUSK_EXEC_INIT"

// maxExecBoot keeps the bootstrap well inside nsenter's 64 KiB receive buffer.
const maxExecBoot = 56 << 10

// execBoot returns the description of proc for nsenter's C exec init (nsenter/execinit.c), or nil when
// proc needs something only the Go init does: a terminal, an LSM label, scheduling attributes, a
// seccomp notify listener, or an invalid value whose error the Go init reports.
func execBoot(proc *specs.Process, prog *seccomp.Program, preserve int) *hsync.ExecBoot {
	if os.Getenv(execInitEnv) == "go" {
		return nil
	}
	// The C init's fixed tables: MAX_ARGS arguments and as many environment entries (one more for
	// HOME), MAX_RLIMITS rlimits, 65536 groups.
	if len(proc.Args) > 4096 || len(proc.Env) > 4095 || len(proc.Rlimits) > 32 || len(proc.User.AdditionalGids) > 65536 {
		return nil
	}
	if len(proc.Args) == 0 || proc.Terminal || proc.ApparmorProfile != "" || proc.SelinuxLabel != "" ||
		proc.Scheduler != nil || proc.IOPriority != nil || proc.ExecCPUAffinity != nil ||
		(prog != nil && prog.Notify) {
		return nil
	}
	e := &hsync.ExecBoot{
		Args: proc.Args, Env: proc.Env, Cwd: proc.Cwd, UID: proc.User.UID, GID: proc.User.GID,
		Umask: procattr.DefaultUmask, Groups: proc.User.AdditionalGids, NoNewPrivs: proc.NoNewPrivileges,
		PreserveFDs: uint32(preserve),
	}
	if m := proc.User.Umask; m != nil {
		if *m > 0o777 {
			return nil
		}
		e.Umask = *m
	}
	for _, l := range proc.Rlimits {
		r, err := procattr.ParseRlimit(l.Type)
		if err != nil || l.Soft > l.Hard {
			return nil
		}
		e.Rlimits = append(e.Rlimits, hsync.ExecRlimit{Name: l.Type, Resource: uint32(r), Soft: l.Soft, Hard: l.Hard})
	}
	caps, err := capabilities.FromSpec(proc.Capabilities)
	if err != nil {
		return nil
	}
	last, err := capabilities.LastCap()
	if err != nil {
		return nil
	}
	e.LastCap = uint32(last)
	e.Caps = [5]uint64{capMask(caps.Bounding), capMask(caps.Effective), capMask(caps.Permitted),
		capMask(caps.Inheritable), capMask(caps.Ambient) & capMask(caps.Permitted) & capMask(caps.Inheritable)}
	if prog != nil {
		e.Seccomp, e.SeccompFlag = prog.Bytes(), uint32(prog.Flags)
	}
	return e
}

func capMask(list []int) uint64 {
	var m uint64
	for _, c := range list {
		if c >= 0 && c < 64 {
			m |= 1 << uint(c)
		}
	}
	return m
}
