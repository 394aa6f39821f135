// Package procattr applies the process attributes of the OCI spec to the
// container's init right before it execve's the user's program: user and
// groups, umask, rlimits, scheduling, I/O priority, CPU affinity,
// personality, no_new_privs, OOM score, hostname, sysctls, the session
// keyring, descriptor hygiene, and the lookup of args[0].
//
// Credentials (and capabilities, in package capabilities) are per-thread
// attributes in Linux. The init holds runtime.LockOSThread and execve's from
// that thread, so they are changed with raw system calls on the calling
// thread. Go's syscall.Setresuid and friends would instead broadcast the
// change to every runtime thread (or, in a cgo binary such as husk, go
// through glibc's signal-based setxid broadcast); neither is needed, since
// execve keeps only the calling thread, and both add failure modes.
package procattr

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SetupUser switches the calling thread to u: supplementary groups
// (u.AdditionalGids), then gid, then uid, each with the real, effective and
// saved ids set to the same value.
//
// PR_SET_KEEPCAPS brackets the uid change so that the permitted set survives
// a switch away from uid 0; the caller then sets the final sets with
// capabilities.Set.Apply. The order is: ApplyBounding, SetupUser, Apply.
//
// In a user namespace whose /proc/self/setgroups is "deny", setgroups(2) is
// skipped when there are no additional gids (it would fail with EPERM and
// there is nothing to set); with additional gids it is an error.
func SetupUser(u specs.User) error {
	if err := setGroups(u.AdditionalGids); err != nil {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
		return fmt.Errorf("set keepcaps: %w", e)
	}
	gid, uid := uintptr(u.GID), uintptr(u.UID)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, gid, gid, gid); e != 0 {
		return fmt.Errorf("setresgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uid, uid, uid); e != 0 {
		return fmt.Errorf("setresuid %d: %w", u.UID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); e != 0 {
		return fmt.Errorf("clear keepcaps: %w", e)
	}
	return nil
}

func setGroups(gids []uint32) error {
	if len(gids) == 0 {
		data, err := os.ReadFile("/proc/self/setgroups")
		if err == nil && strings.TrimSpace(string(data)) == "deny" {
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read /proc/self/setgroups: %w", err)
		}
	}
	var p unsafe.Pointer
	if len(gids) > 0 {
		p = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups %v: %w", gids, e)
	}
	return nil
}

// DefaultUmask is the umask used when the spec gives none.
const DefaultUmask = 0o022

// SetUmask sets the process umask to *mask, or to DefaultUmask when mask is nil.
func SetUmask(mask *uint32) error {
	m := uint32(DefaultUmask)
	if mask != nil {
		m = *mask
	}
	if m > 0o777 {
		return fmt.Errorf("invalid umask %#o", m)
	}
	unix.Umask(int(m))
	return nil
}
