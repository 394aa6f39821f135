package console

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxNameLen is the receive buffer of the console-socket protocol: clients
// such as containerd's go-runc read the name into 4096 bytes and reject a
// message that fills it.
const maxNameLen = 4096

// SendFd sends f over the unix socket sock as one message: the payload is
// name (by convention the pty's path, such as "/dev/pts/3") and the ancillary
// data is a single SCM_RIGHTS descriptor. This is the --console-socket
// protocol that conmon and containerd's go-runc receive.
func SendFd(sock *os.File, f *os.File, name string) error {
	if name == "" || len(name) >= maxNameLen {
		return fmt.Errorf("send fd: name must be 1 to %d bytes, got %d", maxNameLen-1, len(name))
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("send fd %s: %w", name, err)
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		oob := unix.UnixRights(int(fd))
		src, err := sock.SyscallConn()
		if err != nil {
			serr = err
			return
		}
		werr := src.Write(func(s uintptr) bool {
			serr = unix.Sendmsg(int(s), []byte(name), oob, nil, 0)
			return !errors.Is(serr, unix.EAGAIN)
		})
		if serr == nil {
			serr = werr
		}
	})
	if cerr != nil {
		return fmt.Errorf("send fd %s: %w", name, cerr)
	}
	if serr != nil {
		return fmt.Errorf("send fd %s: %w", name, serr)
	}
	return nil
}

// RecvFd receives one descriptor sent by SendFd from sock. The returned file
// is close-on-exec and named after the message payload. Messages that carry
// anything but exactly one descriptor are rejected (extra descriptors are
// closed).
func RecvFd(sock *os.File) (*os.File, error) {
	name := make([]byte, maxNameLen)
	oob := make([]byte, unix.CmsgSpace(4*4))
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("receive fd: %w", err)
	}
	var n, oobn, flags int
	var rerr error
	if err := rc.Read(func(s uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(s), name, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, unix.EAGAIN)
	}); err != nil {
		return nil, fmt.Errorf("receive fd: %w", err)
	}
	if rerr != nil {
		return nil, fmt.Errorf("receive fd: %w", rerr)
	}
	var fds []int
	if oobn > 0 {
		scms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("receive fd: parse control message: %w", err)
		}
		for i := range scms {
			if got, err := unix.ParseUnixRights(&scms[i]); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if len(fds) != 1 || flags&(unix.MSG_CTRUNC|unix.MSG_TRUNC) != 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive fd: want 1 descriptor in one untruncated message, got %d (flags %#x)", len(fds), flags)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
