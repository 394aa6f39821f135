package main

import (
	"fmt"
	"io"
	"os"

	cconsole "github.com/containerd/console"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/console"
	"github.com/husk-runtime/husk/libcontainer/system"
)

// foreground is what husk does while a process it started (`run`, `exec` without --detach) runs: it is a
// child subreaper, relays every signal to the process, proxies the caller's terminal when the process has
// a pty but no console socket was given, reaps, and returns the exit code (128+N for signal N).
type foreground struct {
	sigs chan os.Signal
	term *runTerminal
}

// newForeground starts relaying signals before the process exists, so that none is lost. With
// terminal and no console socket it also returns the socket end init sends the pty master to.
func newForeground(terminal bool, consoleSocket string) (*foreground, *os.File, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, nil, fmt.Errorf("set child subreaper: %w", err)
	}
	f := &foreground{sigs: make(chan os.Signal, 128)}
	if err := relaySignals(f.sigs); err != nil {
		return nil, nil, err
	}
	if !terminal || consoleSocket != "" {
		return f, nil, nil
	}
	t, err := newRunTerminal()
	if err != nil {
		f.close()
		return nil, nil, err
	}
	f.term = t
	return f, t.child, nil
}

// started is called once the process exists: our copy of init's console socket end is closed, and the
// pty master, if any, is received and attached to our stdio.
func (f *foreground) started() error {
	if f.term == nil {
		return nil
	}
	return f.term.attach()
}

// close restores the terminal. The signal relay stays in place: husk exits right after.
func (f *foreground) close() {
	if f.term != nil {
		f.term.close()
	}
}

// wait relays signals to the process pid (our child) until it exits, and returns its exit code.
func (f *foreground) wait(pid int) int {
	pidfd, err := system.PidfdOpen(pid)
	if err == nil {
		defer unix.Close(pidfd)
	}
	for {
		// Reap whatever has exited; the init's status is the answer.
		for {
			var ws unix.WaitStatus
			p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || p <= 0 {
				break
			}
			if p == pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
		s := <-f.sigs
		switch s {
		case unix.SIGCHLD:
		case unix.SIGWINCH:
			if f.term != nil {
				f.term.resize()
			}
		default:
			if pidfd >= 0 {
				system.PidfdSendSignal(pidfd, s.(unix.Signal))
			}
		}
	}
}

// runTerminal is the caller's terminal proxied to the container's pty for a foreground `run -t`.
type runTerminal struct {
	parent, child *os.File
	master        *os.File
	cur           cconsole.Console
}

func newRunTerminal() (*runTerminal, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socketpair: %w", err)
	}
	return &runTerminal{parent: os.NewFile(uintptr(fds[0]), "console-parent"), child: os.NewFile(uintptr(fds[1]), "console-child")}, nil
}

// attach receives the pty master from init and starts copying between it and our stdio.
func (t *runTerminal) attach() error {
	t.child.Close() // init has its copy; ours would keep the socket from ever reporting EOF
	m, err := console.RecvFd(t.parent)
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	t.master = m
	if cur, err := cconsole.ConsoleFromFile(os.Stdin); err == nil {
		t.cur = cur
		cur.SetRaw()
		t.resize()
	}
	go io.Copy(t.master, os.Stdin)
	go io.Copy(os.Stdout, t.master)
	return nil
}

func (t *runTerminal) resize() {
	if t.cur == nil || t.master == nil {
		return
	}
	if ws, err := t.cur.Size(); err == nil {
		unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
	}
}

func (t *runTerminal) close() {
	if t.cur != nil {
		t.cur.Reset()
		t.cur = nil
	}
	t.parent.Close()
	t.child.Close()
}
