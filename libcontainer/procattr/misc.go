package procattr

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Personality domains of linux/personality.h.
const (
	perLinux   = 0x0000
	perLinux32 = 0x0008
)

// SetPersonality sets the execution domain (LINUX or LINUX32) with
// personality(2). A nil p does nothing. The spec defines no flags yet, so
// any flag is refused rather than silently ignored.
func SetPersonality(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	var dom uintptr
	switch p.Domain {
	case specs.PerLinux:
		dom = perLinux
	case specs.PerLinux32:
		dom = perLinux32
	default:
		return fmt.Errorf("unknown personality domain %q", p.Domain)
	}
	if len(p.Flags) > 0 {
		return fmt.Errorf("unsupported personality flags %q", p.Flags)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, dom, 0, 0); e != 0 {
		return fmt.Errorf("set personality %s: %w", p.Domain, e)
	}
	return nil
}

// SetNoNewPrivileges sets PR_SET_NO_NEW_PRIVS on the calling thread; it is
// inherited across fork and execve and cannot be unset.
func SetNoNewPrivileges() error {
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("set no_new_privs: %w", e)
	}
	return nil
}

// SetHostname sets the hostname of the UTS namespace.
func SetHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set hostname %q: %w", name, err)
	}
	return nil
}

// SetDomainname sets the NIS domain name of the UTS namespace.
func SetDomainname(name string) error {
	if err := unix.Setdomainname([]byte(name)); err != nil {
		return fmt.Errorf("set domainname %q: %w", name, err)
	}
	return nil
}

// keyUsrSearch is KEY_USR_SEARCH of linux/keyctl.h.
const keyUsrSearch = 0x00080000

// JoinSessionKeyring gives the calling thread a new session keyring called
// name, so the container cannot reach the host's session keyring, and makes
// it searchable by its owner (the current permissions plus KEY_USR_SEARCH).
// A kernel or seccomp policy without keyctl (ENOSYS) is not an error.
func JoinSessionKeyring(name string) error {
	id, err := unix.KeyctlJoinSessionKeyring(name)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return nil
		}
		return fmt.Errorf("join session keyring %q: %w", name, err)
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	if err != nil {
		return fmt.Errorf("describe session keyring %q: %w", name, err)
	}
	// The description is "type;uid;gid;perm;description", perm in hex.
	f := strings.SplitN(desc, ";", 5)
	if len(f) < 5 {
		return fmt.Errorf("describe session keyring %q: unexpected %q", name, desc)
	}
	perm, err := strconv.ParseUint(f[3], 16, 32)
	if err != nil {
		return fmt.Errorf("parse permissions of session keyring %q: %w", name, err)
	}
	if err := unix.KeyctlSetperm(id, uint32(perm)|keyUsrSearch); err != nil {
		return fmt.Errorf("set permissions of session keyring %q: %w", name, err)
	}
	return nil
}

// CloseExecFrom marks every open descriptor >= minFd close-on-exec, with
// close_range(CLOSE_RANGE_CLOEXEC) or, where that is missing, by walking
// /proc/self/fd.
func CloseExecFrom(minFd int) error {
	if minFd < 0 {
		return fmt.Errorf("close-on-exec from %d: negative fd", minFd)
	}
	err := unix.CloseRange(uint(minFd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("close_range from %d: %w", minFd, err)
	}
	return closeExecWalk(minFd)
}

func closeExecWalk(minFd int) error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("close-on-exec from %d: %w", minFd, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("close-on-exec from %d: list fds: %w", minFd, err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < minFd || fd == int(d.Fd()) {
			continue
		}
		// EBADF: closed since the listing; nothing left to mark.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark fd %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
