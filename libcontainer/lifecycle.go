package libcontainer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/hooks"
	"github.com/husk-runtime/husk/libcontainer/system"
)

// cgroup returns the container's cgroup manager, loaded once from its saved paths (loading reads the
// host's mount table; status, kill and delete each need it).
func (c *Container) cgroup() (cgroups.Manager, error) {
	if c.cg != nil {
		return c.cg, nil
	}
	if len(c.CgroupPaths) == 0 {
		return nil, errors.New("container has no cgroup")
	}
	cg, err := cgroups.Load(c.CgroupPaths, c.Systemd, c.Rootless)
	if err != nil {
		return nil, err
	}
	c.cg = cg
	return cg, nil
}

func (c *Container) frozen() bool {
	cg, err := c.cgroup()
	if err != nil {
		return false
	}
	st, err := cg.FreezerState()
	return err == nil && st == "FROZEN"
}

// pidfd opens a pidfd of the init process and checks that it is still the same process.
func (c *Container) pidfd() (int, error) {
	fd, err := system.PidfdOpen(c.InitPid)
	if err != nil {
		return -1, ErrNotRunning
	}
	if st, err := system.StartTime(c.InitPid); err != nil || st != c.InitStartTime {
		unix.Close(fd)
		return -1, ErrNotRunning
	}
	return fd, nil
}

// Start releases a created container's init through the exec FIFO, waits until its execve succeeded
// (the FIFO's write end is close-on-exec) and runs the poststart hooks.
func (c *Container) Start() error {
	switch st := c.Status(); st {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already %s container", st)
	}
	// The pidfd first: opening the FIFO releases init, and a short-lived process may exit and be
	// reaped (the caller is often a subreaper) before we could look at it.
	pfd, err := c.pidfd()
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	fifo := filepath.Join(c.dir, fifoName)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return errors.New("cannot start an already running container")
		}
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	notify, err := c.notifyListener()
	if err != nil {
		return err
	}
	msg, err := readFifo(fd, pfd)
	// Whatever happened, the container is no longer "created".
	os.Remove(fifo)
	if err != nil {
		return err
	}
	if msg != "" {
		if notify != nil {
			notify.Close()
		}
		return errors.New(msg)
	}
	if notify != nil {
		if err := c.relayNotify(notify, pfd); err != nil {
			return err
		}
	}
	if h := c.Config.Hooks; h != nil && len(h.Poststart) > 0 {
		// runtime-spec: a failing poststart hook is a warning; the container keeps running.
		if err := hooks.Run("poststart", h.Poststart, c.specState(Running)); err != nil {
			logrus.Warn(err)
		}
	}
	return nil
}

// readFifo reads the release byte and then everything init writes until the FIFO's write end closes.
// It returns init's error text, if any.
func readFifo(fd, pidfd int) (string, error) {
	var out []byte
	released := false
	buf := make([]byte, 4096)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return "", fmt.Errorf("poll exec fifo: %w", err)
		}
		if fds[0].Revents != 0 {
			n, err := unix.Read(fd, buf)
			if n > 0 {
				out = append(out, buf[:n]...)
				released = true
				continue
			}
			if err == unix.EAGAIN {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("read exec fifo: %w", err)
			}
			if released {
				break // EOF: the writer closed it (execve succeeded, or init wrote its error and exited)
			}
		}
		if fds[1].Revents != 0 {
			// init exited: drain what it wrote.
			for {
				n, _ := unix.Read(fd, buf)
				if n <= 0 {
					break
				}
				out = append(out, buf[:n]...)
			}
			if len(out) <= 1 {
				return "", errors.New("container init exited before it was started")
			}
			break
		}
	}
	if len(out) > 0 && out[0] == '0' {
		out = out[1:]
	}
	return strings.TrimSpace(string(out)), nil
}

// Signal sends sig to the init process, or with all to every process of the container.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	if all {
		// Every process of the cgroup, whatever the init's state (runc: success on a stopped container).
		cg, err := c.cgroup()
		if err != nil {
			if c.Status() == Stopped {
				return nil
			}
			return err
		}
		return cg.Kill(sig)
	}
	st := c.Status()
	if st == Stopped {
		return ErrNotRunning
	}
	fd, err := c.pidfd()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := system.PidfdSendSignal(fd, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal container init: %w", err)
	}
	// A frozen process cannot act on SIGKILL: thaw it so that it dies (as runc does).
	if sig == unix.SIGKILL && st == Paused {
		if cg, err := c.cgroup(); err == nil {
			return cg.Thaw()
		}
	}
	return nil
}

// Delete removes a container. A created container is killed first (as runc does); a running or paused
// one only with force.
func (c *Container) Delete(force bool) error {
	st := c.Status()
	switch st {
	case Stopped:
	case Created:
		if err := c.kill(); err != nil {
			return err
		}
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.ID, st)
		}
		if err := c.kill(); err != nil {
			return err
		}
	}
	return c.destroy()
}

// ownPidNS tells whether the container has a PID namespace of its own (killing init then kills all).
func (c *Container) ownPidNS() bool {
	if c.Config == nil || c.Config.Linux == nil {
		return false
	}
	for _, ns := range c.Config.Linux.Namespaces {
		if ns.Type == "pid" {
			return ns.Path == ""
		}
	}
	return false
}

// kill SIGKILLs the container and waits, on the init's pidfd, until it is gone: no fixed sleep.
func (c *Container) kill() error {
	fd, err := c.pidfd()
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(fd)
	cg, _ := c.cgroup()
	if !c.ownPidNS() && cg != nil {
		cg.Kill(unix.SIGKILL)
	}
	if err := system.PidfdSendSignal(fd, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill container init: %w", err)
	}
	if cg != nil && c.frozen() {
		cg.Thaw()
	}
	if _, err := system.WaitPidfd(fd, 10*time.Second); err != nil {
		return fmt.Errorf("wait for container init: %w", err)
	}
	return nil
}

// destroy removes the cgroup and the state directory of a stopped container and runs poststop hooks.
func (c *Container) destroy() error {
	var errs []error
	if cg, err := c.cgroup(); err == nil {
		if !c.ownPidNS() {
			cg.Kill(unix.SIGKILL)
		}
		if err := cg.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Config != nil && c.Config.Hooks != nil && len(c.Config.Hooks.Poststop) > 0 {
		if err := hooks.Run("poststop", c.Config.Hooks.Poststop, c.specState(Stopped)); err != nil {
			logrus.Warn(err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove state directory: %w", err))
	}
	return errors.Join(errs...)
}

// dialUnix connects to a unix stream socket and returns the connection as a file.
func dialUnix(path string) (*os.File, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.File()
}

// Pids lists the host pids of every process in the container's cgroup.
func (c *Container) Pids() ([]int, error) {
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return cg.Pids()
}
