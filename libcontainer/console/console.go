// Package console allocates the container's pseudo-terminal, makes it the
// controlling terminal of the init, and passes the master to the caller's
// --console-socket with SCM_RIGHTS.
package console

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// NewPty opens ptmxPath (the container's /dev/ptmx or /dev/pts/ptmx) and
// returns the master and its peer. The peer is obtained with TIOCGPTPEER on
// the master, never by opening /dev/pts/N by path: a path inside the
// container could be replaced by something else. Both ends are close-on-exec
// and the peer is named "/dev/pts/N".
func NewPty(ptmxPath string) (master *os.File, peer *os.File, err error) {
	mfd, err := unix.Open(ptmxPath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ptmxPath, err)
	}
	defer func() {
		if err != nil {
			unix.Close(mfd)
		}
	}()
	// The master must be a pty master: TIOCGPTN fails on anything else.
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return nil, nil, fmt.Errorf("get pty number of %s: %w", ptmxPath, err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	pfd, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), uintptr(unix.TIOCGPTPEER),
		uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		return nil, nil, fmt.Errorf("open pty peer (TIOCGPTPEER): %w", e)
	}
	return os.NewFile(uintptr(mfd), ptmxPath), os.NewFile(pfd, "/dev/pts/"+strconv.FormatUint(uint64(n), 10)), nil
}

// SetSize sets the window size of the terminal f (TIOCSWINSZ). A nil size
// leaves it unchanged.
func SetSize(f *os.File, size *specs.Box) error {
	if size == nil {
		return nil
	}
	ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
	if err := control(f, func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) }); err != nil {
		return fmt.Errorf("set terminal size: %w", err)
	}
	return nil
}

// SetControlling makes peer the controlling terminal of a new session led by
// the calling process (setsid + TIOCSCTTY) and duplicates it onto fds 0, 1
// and 2. When the caller already leads its session, setsid is skipped.
func SetControlling(peer *os.File) error {
	if _, err := unix.Setsid(); err != nil {
		sid, serr := unix.Getsid(0)
		if !errors.Is(err, unix.EPERM) || serr != nil || sid != unix.Getpid() {
			return fmt.Errorf("setsid: %w", err)
		}
	}
	return control(peer, func(fd int) error {
		if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
			return fmt.Errorf("set controlling terminal: %w", err)
		}
		for i := 0; i <= 2; i++ {
			if fd == i {
				// dup3 refuses oldfd == newfd; just make it survive exec.
				if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
					return fmt.Errorf("clear close-on-exec on fd %d: %w", i, err)
				}
				continue
			}
			if err := unix.Dup3(fd, i, 0); err != nil {
				return fmt.Errorf("dup terminal onto fd %d: %w", i, err)
			}
		}
		return nil
	})
}

// control runs fn with the raw descriptor of f without switching f to
// blocking mode (as f.Fd() would).
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
