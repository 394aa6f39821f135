package initproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/console"
	"github.com/husk-runtime/husk/libcontainer/hooks"
	"github.com/husk-runtime/husk/libcontainer/lsm"
	"github.com/husk-runtime/husk/libcontainer/procattr"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
	hsync "github.com/husk-runtime/husk/libcontainer/sync"
	"github.com/husk-runtime/husk/libcontainer/system"
)

func init() {
	// Locked in an init function, the main goroutine runs on the main thread: keyring labels and
	// credential changes happen on the thread that finally execs.
	if IsInit() {
		runtime.LockOSThread()
	}
}

// IsInit tells whether this process was started as a container init (nsenter ran already).
func IsInit() bool { return os.Getenv("_HUSK_INITPIPE") != "" }

// Main runs the container init and never returns: it execs the user's process or exits 1 after sending
// its error to the parent (before the container is created) or to `husk start` (after).
func Main() {
	// Credentials and capabilities are per thread; everything happens on this one, which execs at the end.
	runtime.LockOSThread()
	in, err := setup()
	if err != nil {
		if in != nil && in.sock != nil {
			in.sock.Send(&hsync.Msg{Type: hsync.TypeError, Msg: err.Error()})
		} else {
			fmt.Fprintln(os.Stderr, "husk init:", err)
		}
		os.Exit(1)
	}
	if in.cfg.Exec {
		err = in.execProcess()
		in.sock.Send(&hsync.Msg{Type: hsync.TypeError, Msg: err.Error()})
		os.Exit(1)
	}
	err = in.exec()
	// Only reached on failure after `start` released us: tell `start` through the FIFO.
	if in.fifo != nil {
		in.fifo.WriteString(err.Error())
	}
	os.Exit(1)
}

type initState struct {
	cfg     *Config
	sock    *hsync.Conn
	fifoFd  int
	fifo    *os.File
	conSock *os.File
	path    string // resolved args[0]
	env     []string
	caps    *capabilities.Set
	nnp     bool
	// attached: the parent confirmed we are in the container's cgroup (LateCgroup)
	attached bool
}

func envFd(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return -1, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return -1, fmt.Errorf("bad %s=%q", name, v)
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

func setup() (*initState, error) {
	in := &initState{fifoFd: -1}
	fd, err := envFd("_HUSK_INITPIPE")
	if err != nil {
		return nil, err
	}
	in.sock = hsync.NewConn(os.NewFile(uintptr(fd), "sync"))
	if in.fifoFd, err = envFd("_HUSK_FIFOFD"); err != nil {
		return in, err
	}
	cfd, err := envFd("_HUSK_CONSOLE")
	if err != nil {
		return in, err
	}
	if cfd >= 0 {
		in.conSock = os.NewFile(uintptr(cfd), "console-socket")
	}
	os.Clearenv()
	m, err := in.sock.Expect(hsync.TypeConfig)
	if err != nil {
		return in, err
	}
	if in.cfg, err = decodeConfig(m.Config); err != nil {
		return in, err
	}
	if in.cfg.Exec {
		return in, in.buildExec()
	}
	return in, in.build()
}

// build sets the container up, in the order runtime-spec and runc use, up to the exec FIFO.
func (in *initState) build() error {
	spec := in.cfg.Spec
	proc := spec.Process
	if proc == nil {
		return errors.New("spec has no process")
	}
	// A new session, always: the container must not share the caller's controlling terminal.
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	rc := &rootfs.Config{Spec: spec, Rootfs: in.cfg.Rootfs, NoPivot: in.cfg.NoPivot, CgroupPaths: in.cfg.CgroupPaths}
	if in.cfg.LateCgroup {
		rc.InCgroup = in.inCgroup
	}
	if err := rootfs.Prepare(rc); err != nil {
		return err
	}
	// Everything from here on (hooks, affinity, the process) happens inside the container's cgroup.
	if err := in.inCgroup(); err != nil {
		return err
	}
	if h := spec.Hooks; h != nil {
		if len(h.Prestart)+len(h.CreateRuntime) > 0 { //nolint:staticcheck // prestart is deprecated, still honoured
			if err := in.sock.Send(&hsync.Msg{Type: hsync.TypeHooks}); err != nil {
				return err
			}
			if _, err := in.sock.Expect(hsync.TypeHooksDone); err != nil {
				return err
			}
		}
		if err := hooks.Run("createContainer", h.CreateContainer, in.state(specs.StateCreating)); err != nil {
			return err
		}
	}
	if err := rootfs.Pivot(rc); err != nil {
		return err
	}
	if proc.Terminal {
		if err := in.setupConsole(proc.ConsoleSize, true); err != nil {
			return err
		}
	}
	if err := in.setupNamespaced(spec); err != nil {
		return err
	}
	if err := rootfs.Finalize(rc); err != nil {
		return err
	}
	if err := in.setupProcess(proc, true); err != nil {
		return err
	}
	// Only the preserved fds and stdio survive the execve.
	if err := procattr.CloseExecFrom(3 + in.cfg.PreserveFDs); err != nil {
		return err
	}
	return nil
}

// buildExec prepares a process started by `husk exec` in the container's namespaces (nsenter joined them,
// including the mount namespace, whose root is the container's root).
func (in *initState) buildExec() error {
	proc := in.cfg.Process
	if proc == nil || len(proc.Args) == 0 {
		return errors.New("exec: process args must not be empty")
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if proc.Terminal {
		if err := in.setupConsole(proc.ConsoleSize, false); err != nil {
			return err
		}
	}
	if err := in.setupProcess(proc, false); err != nil {
		return err
	}
	return procattr.CloseExecFrom(3 + in.cfg.PreserveFDs)
}

// execProcess tells the parent we are about to execve and does it; the sync socket is close-on-exec.
func (in *initState) execProcess() error {
	if err := in.sock.Send(&hsync.Msg{Type: hsync.TypeReady}); err != nil {
		return err
	}
	if err := system.RestoreTimerSlack(); err != nil {
		return fmt.Errorf("timer slack: %w", err)
	}
	if err := in.finish(); err != nil {
		return err
	}
	err := unix.Exec(in.path, in.cfg.Process.Args, in.env)
	return fmt.Errorf("exec %q: %w", in.cfg.Process.Args[0], err)
}

// finish runs right before execve: the seccomp filter as late as possible, then the final capabilities.
// With no_new_privs the capabilities come first and only execve follows the filter; without it, loading
// needs CAP_SYS_ADMIN, so the filter goes in while init still holds it and capset/prctl follow (the parent
// checked that the profile lets them through).
func (in *initState) finish() error {
	prog := in.cfg.Seccomp
	if prog == nil || prog.Notify {
		return in.caps.Apply()
	}
	if in.nnp {
		if err := in.caps.Apply(); err != nil {
			return err
		}
		return in.loadSeccomp(prog, false)
	}
	if err := in.loadSeccomp(prog, false); err != nil {
		return err
	}
	return in.caps.Apply()
}

// loadSeccomp installs the filter (raising CAP_SYS_ADMIN from the permitted set when no_new_privs is off)
// and, for a notify filter, sends its listener to the parent.
func (in *initState) loadSeccomp(prog *seccomp.Program, notify bool) error {
	if !in.nnp {
		if err := raiseEffective(); err != nil {
			return err
		}
	}
	fd, err := seccomp.Load(prog)
	if err != nil {
		return err
	}
	if !notify || fd < 0 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "seccomp-listener")
	defer f.Close()
	if err := in.sock.Send(&hsync.Msg{Type: hsync.TypeSeccomp}); err != nil {
		return err
	}
	if err := console.SendFd(in.sock.File(), f, "seccomp"); err != nil {
		return fmt.Errorf("send seccomp listener: %w", err)
	}
	_, err = in.sock.Expect(hsync.TypeSeccompDone)
	return err
}

// raiseEffective makes the thread's effective capabilities equal to its permitted ones.
func raiseEffective() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Effective, data[1].Effective = data[0].Permitted, data[1].Permitted
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// inCgroup waits, once, until the parent has moved us into the container's cgroup (create overlaps
// that move, which can wait for an RCU grace period, with the rootfs set-up).
func (in *initState) inCgroup() error {
	if !in.cfg.LateCgroup || in.attached {
		return nil
	}
	in.attached = true
	if err := in.sock.Send(&hsync.Msg{Type: hsync.TypeCgroup}); err != nil {
		return err
	}
	_, err := in.sock.Expect(hsync.TypeCgroupDone)
	return err
}

// state is the state JSON for hooks run by init.
func (in *initState) state(status specs.ContainerState) *specs.State {
	return &specs.State{Version: specs.Version, ID: in.cfg.ID, Status: status, Pid: in.cfg.HostPid,
		Bundle: in.cfg.Bundle, Annotations: in.cfg.Spec.Annotations}
}

// setupConsole allocates the pty inside the container (TIOCGPTPEER, never by path), hands the master to the
// console socket and makes the peer our controlling terminal and stdio.
func (in *initState) setupConsole(size *specs.Box, devConsole bool) error {
	if in.conSock == nil {
		return errors.New("terminal requested but no console socket was given")
	}
	master, peer, err := console.NewPty("/dev/ptmx")
	if err != nil {
		return err
	}
	defer master.Close()
	if size != nil {
		if err := console.SetSize(master, size); err != nil {
			return err
		}
	}
	if devConsole {
		if err := rootfs.MountConsole(peer); err != nil {
			return err
		}
	}
	name, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", peer.Fd()))
	if err := console.SendFd(in.conSock, master, name); err != nil {
		return fmt.Errorf("send pty master to console socket: %w", err)
	}
	in.conSock.Close()
	in.conSock = nil
	if err := console.SetControlling(peer); err != nil {
		return err
	}
	return peer.Close()
}

// setupNamespaced applies what belongs to the container's namespaces: hostname, domainname, sysctls.
func (in *initState) setupNamespaced(spec *specs.Spec) error {
	if spec.Hostname != "" {
		if err := procattr.SetHostname(spec.Hostname); err != nil {
			return err
		}
	}
	if spec.Domainname != "" {
		if err := procattr.SetDomainname(spec.Domainname); err != nil {
			return err
		}
	}
	if spec.Linux != nil && len(spec.Linux.Sysctl) > 0 {
		if err := procattr.WriteSysctls(spec.Linux.Sysctl); err != nil {
			return err
		}
	}
	if spec.Linux != nil && spec.Linux.Personality != nil {
		if err := procattr.SetPersonality(spec.Linux.Personality); err != nil {
			return err
		}
	}
	return nil
}

// setupProcess applies the process attributes, switches user and capabilities and checks the cwd.
func (in *initState) setupProcess(proc *specs.Process, keyring bool) error {
	// exec on cgroup v1: the parent moved us into the container's cgroup while the Go runtime
	// started; from here on (affinity, user code) we must be in it.
	if err := in.inCgroup(); err != nil {
		return err
	}
	in.env = withHome(proc.Env, proc.User.UID)
	for _, kv := range in.env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			os.Setenv(k, v)
		}
	}
	if err := procattr.SetRlimits(proc.Rlimits); err != nil {
		return err
	}
	if keyring && !in.cfg.NoNewKeyring {
		if err := lsm.SetKeyringLabel(proc.SelinuxLabel); err != nil {
			return err
		}
		if err := procattr.JoinSessionKeyring("_ses." + in.cfg.ID); err != nil {
			return err
		}
	}
	if proc.Scheduler != nil {
		if err := procattr.SetScheduler(proc.Scheduler); err != nil {
			return err
		}
	}
	if proc.IOPriority != nil {
		if err := procattr.SetIOPriority(proc.IOPriority); err != nil {
			return err
		}
	}
	if a := proc.ExecCPUAffinity; a != nil && a.Final != "" {
		if err := procattr.SetCPUAffinity(a.Final); err != nil {
			return err
		}
	}
	caps, err := capabilities.FromSpec(proc.Capabilities)
	if err != nil {
		return err
	}
	if err := caps.ApplyBounding(); err != nil {
		return err
	}
	if err := procattr.SetupUser(proc.User); err != nil {
		return err
	}
	if err := unix.Chdir(proc.Cwd); err != nil {
		return fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", proc.Cwd, err)
	}
	// CVE-2024-21626: a cwd reached through a leaked host fd is outside the root; getcwd says so.
	wd, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("cwd %q: current working directory is outside of container mount namespace root -- possible container breakout detected", proc.Cwd)
	}
	// Resolved as the container's user, from its cwd (args[0] may be relative), as execve will see it.
	path, err := procattr.LookPath(proc.Args[0], proc.Env)
	if err != nil {
		return err
	}
	in.path, in.caps, in.nnp = path, caps, proc.NoNewPrivileges
	if proc.NoNewPrivileges {
		if err := procattr.SetNoNewPrivileges(); err != nil {
			return err
		}
	}
	if err := procattr.SetUmask(proc.User.Umask); err != nil {
		return err
	}
	// LSM labels apply to the next execve; set them on this (the exec'ing) thread before seccomp.
	if err := lsm.ApplyAppArmor(proc.ApparmorProfile); err != nil {
		return err
	}
	if err := lsm.SetExecLabel(proc.SelinuxLabel); err != nil {
		return err
	}
	// A notify filter must be loaded while the parent still runs, to hand its listener on.
	if prog := in.cfg.Seccomp; prog != nil && prog.Notify {
		return in.loadSeccomp(prog, true)
	}
	return nil
}

// withHome adds HOME from the container's /etc/passwd (or "/") when the spec's env has none, as runc does.
func withHome(env []string, uid uint32) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	home := "/"
	if b, err := readPasswd(); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 6 && f[2] == strconv.FormatUint(uint64(uid), 10) && f[5] != "" {
				home = f[5]
				break
			}
		}
	}
	return append(append([]string(nil), env...), "HOME="+home)
}

// maxPasswd bounds what is read of the container's /etc/passwd.
const maxPasswd = 4 << 20

// readPasswd reads the container's /etc/passwd if it is a regular file, and at most maxPasswd bytes of
// it: a FIFO or a device there (the container's choice) must not hang or exhaust init.
func readPasswd() ([]byte, error) {
	f, err := os.OpenFile("/etc/passwd", os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, errors.New("/etc/passwd is not a regular file")
	}
	return io.ReadAll(io.LimitReader(f, maxPasswd))
}

// exec tells the parent we are ready, waits for `start` on the exec FIFO and execs the user's process.
func (in *initState) exec() error {
	if err := in.sock.Send(&hsync.Msg{Type: hsync.TypeReady}); err != nil {
		return err
	}
	in.sock.Close()
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", in.fifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	unix.Close(in.fifoFd)
	in.fifo = os.NewFile(uintptr(fd), "exec.fifo")
	if _, err := in.fifo.Write([]byte("0")); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	if h := in.cfg.Spec.Hooks; h != nil && len(h.StartContainer) > 0 {
		if err := hooks.Run("startContainer", h.StartContainer, in.state(specs.StateCreated)); err != nil {
			return err
		}
	}
	if err := system.RestoreTimerSlack(); err != nil {
		return fmt.Errorf("timer slack: %w", err)
	}
	if err := in.finish(); err != nil {
		return err
	}
	err = unix.Exec(in.path, in.cfg.Spec.Process.Args, in.env)
	return fmt.Errorf("exec %q: %w", in.cfg.Spec.Process.Args[0], err)
}
