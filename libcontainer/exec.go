package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/initproc"
	hsync "github.com/husk-runtime/husk/libcontainer/sync"
)

// ExecOpts describe a process to start in a running container.
type ExecOpts struct {
	Process       *specs.Process // complete: never merged with the container's process
	PidFile       string
	ConsoleSocket string
	Console       *os.File // foreground `exec -t`: an already connected console socket
	PidfdSocket   string
	PreserveFDs   int
	IgnorePaused  bool
	SubCgroups    []string // `--cgroup [controller:]path`: existing sub-cgroups to run in
}

// Exec starts o.Process in every namespace and the cgroup of the container and returns its host pid once
// its execve succeeded. The process is the caller's child.
func (c *Container) Exec(o *ExecOpts) (pid int, err error) {
	ph := newPhases("exec")
	defer ph.done()
	p := &parent{c: c, preserveFDs: o.PreserveFDs, consolePath: o.ConsoleSocket, console: o.Console,
		pidfdChild: -1, execProc: o.Process}
	// The seal overlaps the checks and the preparation below.
	p.startSeal()
	defer func() {
		p.closeFiles()
		if err != nil {
			p.abortExec()
		}
	}()
	switch c.Status() {
	case Stopped:
		return 0, errors.New("cannot exec in a stopped container")
	case Paused:
		if !o.IgnorePaused {
			return 0, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	}
	if o.Process.Terminal && o.ConsoleSocket == "" && o.Console == nil {
		return 0, errors.New("cannot allocate tty if husk will detach without setting console socket")
	}
	if !o.Process.Terminal && (o.ConsoleSocket != "" || o.Console != nil) {
		return 0, errors.New("cannot use console socket if husk will not detach or allocate tty")
	}
	if err := validateLSM(o.Process); err != nil {
		return 0, err
	}
	cg, err := c.cgroup()
	if err != nil {
		return 0, err
	}
	if len(o.SubCgroups) > 0 {
		if cg, err = withSubCgroups(cg, o.SubCgroups); err != nil {
			return 0, err
		}
	}
	pfd, err := c.pidfd()
	if err != nil {
		return 0, err
	}
	var flags uint32
	if c.Config.Linux != nil {
		for _, ns := range c.Config.Linux.Namespaces {
			flags |= nsFlags[ns.Type]
		}
	}
	p.cg, p.pidfdChild, p.pidfdFlags = cg, pfd, flags
	p.files = append(p.files, os.NewFile(uintptr(pfd), "pidfd"))
	ph.mark("prepare")
	// Stage 0 starts (an execve, libc's start-up, nsenter's constructor) while its bootstrap is
	// prepared.
	if err := p.start(nil); err != nil {
		return 0, err
	}
	if p.seccomp, err = c.seccompProgram(); err != nil {
		return 0, err
	}
	var b hsync.Bootstrap
	b.CloneFlags(0)
	if o.Process.OOMScoreAdj != nil {
		b.OOMScoreAdj(*o.Process.OOMScoreAdj)
	}
	// Most processes are set up by nsenter's C code and exec'd without starting the Go runtime in
	// the container (nsenter/execinit.c); the Go init handles the rest.
	fast := execBoot(o.Process, p.seccomp, o.PreserveFDs)
	if fast != nil {
		var fb hsync.Bootstrap
		fb.Exec(fast)
		if len(fb.Bytes()) > maxExecBoot {
			fast = nil // nsenter reads one bootstrap packet of at most 64 KiB
		} else {
			b.Append(&fb)
		}
	}
	if fast != nil {
		logrus.Debug("exec: the process is set up by the C init")
	} else {
		logrus.Debug("exec: the process is set up by the Go init")
	}
	ph.mark("bootstrap")
	// Into the container's cgroup before anything else runs: on cgroup v1 nsenter's stage 0 moves
	// itself (sync.JoinCgroup), on cgroup v2 the process is cloned into it. Otherwise (rootless husk
	// on cgroup v1) it is moved there while its Go side starts, and waits for the move before
	// anything that depends on it.
	boot := b.Bytes()
	if dirs := selfJoinDirs(p.cg, c.Rootless, ""); dirs != nil {
		boot, p.joined = append(joinRecords(dirs), boot...), true
	}
	p.lateCgroup = !p.joined && p.cloneIntoDir() == ""
	if err := p.boot(boot); err != nil {
		return 0, err
	}
	if p.lateCgroup {
		p.attachLate(nil)
	}
	ph.mark("spawn")
	if fast != nil {
		// The C init waits for this before anything else; it got everything else in the bootstrap.
		if err := p.waitAttached(); err != nil {
			return 0, err
		}
		if err := p.sock.Send(&hsync.Msg{Type: hsync.TypeCgroupDone}); err != nil {
			return 0, p.initFailed(err)
		}
	} else {
		cfg := &initproc.Config{ID: c.ID, Bundle: c.Bundle, Rootfs: c.Rootfs, HostPid: p.initPid,
			PreserveFDs: o.PreserveFDs, Exec: true, Process: o.Process, Seccomp: p.seccomp, LateCgroup: p.lateCgroup}
		raw, err := json.Marshal(cfg)
		if err != nil {
			return 0, err
		}
		if err := p.sock.Send(&hsync.Msg{Type: hsync.TypeConfig, Config: raw}); err != nil {
			return 0, p.initFailed(err)
		}
	}
	if err := p.endStage0(); err != nil { // only now: the process did not wait for stage 0's exit
		return 0, err
	}
	for {
		m, err := p.sock.Recv()
		if err != nil {
			return 0, p.initFailed(err)
		}
		if m.Type == hsync.TypeReady {
			if err := p.waitAttached(); err != nil {
				return 0, err
			}
			break
		}
		switch m.Type {
		case hsync.TypeCgroup:
			if err := p.waitAttached(); err != nil {
				return 0, err
			}
			if err := p.sock.Send(&hsync.Msg{Type: hsync.TypeCgroupDone}); err != nil {
				return 0, p.initFailed(err)
			}
		case hsync.TypeSeccomp:
			if err := p.serveSeccomp(); err != nil {
				return 0, err
			}
		case hsync.TypeError:
			return 0, errors.New(m.Msg)
		default:
			return 0, fmt.Errorf("sync: unexpected %q from exec process", m.Type)
		}
	}
	ph.mark("init-setup")
	// The socket is close-on-exec in the process: EOF now means its execve succeeded.
	if m, err := p.sock.Recv(); err == nil {
		if m.Type == hsync.TypeError {
			return 0, errors.New(m.Msg)
		}
		return 0, fmt.Errorf("sync: unexpected %q from exec process", m.Type)
	} else if !errors.Is(err, hsync.ErrClosed) {
		return 0, err
	}
	ph.mark("execve")
	if o.PidfdSocket != "" {
		if err := sendPidfd(o.PidfdSocket, p.initPid); err != nil {
			return 0, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, p.initPid); err != nil {
			return 0, err
		}
	}
	return p.initPid, nil
}

// abortExec kills and reaps what a failed exec started; the container itself is left alone.
func (p *parent) abortExec() {
	p.waitAttached()
	p.killStage0()
	if p.initPid > 0 {
		unix.Kill(p.initPid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(p.initPid, &ws, 0, nil)
	}
}
