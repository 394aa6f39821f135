package system

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// PidfdOpen returns a close-on-exec pidfd referring to pid. The caller closes it.
func PidfdOpen(pid int) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	return fd, nil
}

// PidfdSendSignal sends sig to the process behind pidfd. Unlike kill(2) it
// cannot hit a different process that reused the pid.
func PidfdSendSignal(pidfd int, sig unix.Signal) error {
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("pidfd_send_signal %s: %w", unix.SignalName(sig), err)
	}
	return nil
}

// WaitPidfd waits until the process behind pidfd exits or timeout passes. It
// polls the pidfd for POLLIN, which the kernel raises when the process exits;
// it does not reap the process. A negative timeout waits forever.
func WaitPidfd(pidfd int, timeout time.Duration) (exited bool, err error) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		ms := -1
		if timeout >= 0 {
			left := time.Until(deadline)
			if left < 0 {
				left = 0
			}
			// Round up so that a sub-millisecond remainder still waits.
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll pidfd: %w", err)
		}
		if n == 0 {
			return false, nil
		}
		re := fds[0].Revents
		if re&unix.POLLNVAL != 0 {
			return false, fmt.Errorf("poll pidfd: %w", unix.EBADF)
		}
		return re&(unix.POLLIN|unix.POLLHUP) != 0, nil
	}
}
