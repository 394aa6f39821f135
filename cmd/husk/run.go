package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	cconsole "github.com/containerd/console"
	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer"
	"github.com/husk-runtime/husk/libcontainer/console"
	"github.com/husk-runtime/husk/libcontainer/system"
)

var runCommand = cli.Command{
	Name:  "run",
	Usage: "create and run a container",
	ArgsUsage: `<container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host.`,
	Description: `The run command creates an instance of a container for a bundle. The bundle
is a directory with a specification file named "` + specConfig + `" and a root
filesystem.`,
	Flags: append([]cli.Flag{
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
	}, createFlags...),
	Action: func(ctx *cli.Context) error {
		o, err := createOpts(ctx)
		if err != nil {
			return err
		}
		detach := ctx.Bool("detach")
		if detach && ctx.Bool("keep") {
			return errors.New("--detach and --keep cannot both be specified")
		}
		code, err := runContainer(o, detach, ctx.Bool("keep"))
		if err != nil {
			return err
		}
		if !detach {
			os.Exit(code)
		}
		return nil
	},
}

// runContainer creates and starts a container; in the foreground it forwards signals, proxies the terminal,
// reaps the container's init (and, as a subreaper, orphans) and returns the exit code (128+N for signal N).
func runContainer(o *libcontainer.CreateOpts, detach, keep bool) (int, error) {
	var sigs chan os.Signal
	var term *runTerminal
	if !detach {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("set child subreaper: %w", err)
		}
		// Listen before the container exists, so that no signal is lost.
		sigs = make(chan os.Signal, 128)
		signal.Notify(sigs)
		defer signal.Stop(sigs)
		if o.Spec.Process.Terminal && o.ConsoleSocket == "" {
			t, err := newRunTerminal()
			if err != nil {
				return 0, err
			}
			term = t
			defer term.close()
			o.Console = term.child
		}
	}
	c, err := libcontainer.Create(o)
	if term != nil {
		term.child.Close()
	}
	if err != nil {
		return 0, err
	}
	if term != nil {
		if err := term.attach(); err != nil {
			c.Delete(true)
			return 0, err
		}
	}
	if err := c.Start(); err != nil {
		c.Delete(true)
		return 0, err
	}
	if detach {
		return 0, nil
	}
	code := forward(c.InitPid, sigs, term)
	if term != nil {
		term.close()
	}
	if !keep {
		if err := c.Delete(true); err != nil {
			return 0, err
		}
	}
	return code, nil
}

// forward relays signals to the process pid (our child) until it exits, and returns its exit code.
func forward(pid int, sigs chan os.Signal, term *runTerminal) int {
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
		s := <-sigs
		switch s {
		case unix.SIGCHLD, unix.SIGURG: // SIGURG is the Go runtime's preemption signal: not the user's
		case unix.SIGWINCH:
			if term != nil {
				term.resize()
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
}
