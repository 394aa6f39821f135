package libcontainer

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sd_notify proxy, as runc does it: when husk runs with $NOTIFY_SOCKET (e.g. under a systemd unit of
// Type=notify), the container gets its own datagram socket at /run/notify/notify.sock (a directory of the
// state dir bind-mounted in), and `start`/`run` relay what the container sends to the host's socket until
// READY=1 arrives.

const (
	notifyDir       = "notify"
	notifySockName  = "notify.sock"
	containerNotify = "/run/notify"
)

// setupNotify prepares the container side of the proxy: the socket directory, the bind mount and the
// environment variable. It returns the spec to hand to init (a copy when changed).
func setupNotify(c *Container, spec *specs.Spec) (*specs.Spec, error) {
	host := os.Getenv("NOTIFY_SOCKET")
	if host == "" || spec.Process == nil {
		return spec, nil
	}
	dir := filepath.Join(c.dir, notifyDir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("notify socket directory: %w", err)
	}
	c.NotifySocket = host
	cp := *spec
	proc := *spec.Process
	proc.Env = append(append([]string(nil), proc.Env...), "NOTIFY_SOCKET="+containerNotify+"/"+notifySockName)
	cp.Process = &proc
	cp.Mounts = append(append([]specs.Mount(nil), spec.Mounts...), specs.Mount{
		Destination: containerNotify, Source: dir, Type: "bind",
		Options: []string{"bind", "nosuid", "noexec", "nodev"},
	})
	return &cp, nil
}

// notifyListener binds the container's notify socket; start calls it before releasing init.
func (c *Container) notifyListener() (*net.UnixConn, error) {
	if c.NotifySocket == "" {
		return nil, nil
	}
	path := filepath.Join(c.dir, notifyDir, notifySockName)
	os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	// The container's user may not be root: anyone in the container may notify.
	os.Chmod(path, 0o777)
	return conn, nil
}

// relayNotify forwards the container's messages to the host's socket until READY=1, or until the init
// exits (pidfd readable).
func (c *Container) relayNotify(conn *net.UnixConn, pidfd int) error {
	defer conn.Close()
	host, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: c.NotifySocket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("host notify socket %s: %w", c.NotifySocket, err)
	}
	defer host.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		var sockFd int
		raw.Control(func(fd uintptr) { sockFd = int(fd) })
		fds := []unix.PollFd{{Fd: int32(sockFd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			n, _, err := unix.Recvfrom(sockFd, buf, unix.MSG_DONTWAIT)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil {
				return fmt.Errorf("notify socket: %w", err)
			}
			if _, err := host.Write(buf[:n]); err != nil {
				return fmt.Errorf("forward to %s: %w", c.NotifySocket, err)
			}
			for _, line := range bytes.Split(buf[:n], []byte("\n")) {
				if bytes.Equal(line, []byte("READY=1")) {
					return nil
				}
			}
			continue
		}
		if fds[1].Revents != 0 {
			return nil // the container exited without saying READY=1
		}
	}
}
