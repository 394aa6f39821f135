package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/console"
	"github.com/husk-runtime/husk/libcontainer/exeseal"
	"github.com/husk-runtime/husk/libcontainer/hooks"
	"github.com/husk-runtime/husk/libcontainer/initproc"
	"github.com/husk-runtime/husk/libcontainer/lsm"
	"github.com/husk-runtime/husk/libcontainer/procattr"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
	hsync "github.com/husk-runtime/husk/libcontainer/sync"
	"github.com/husk-runtime/husk/libcontainer/system"
	"github.com/sirupsen/logrus"
)

// CreateOpts are the inputs of Create: the validated spec and what create's flags say.
type CreateOpts struct {
	Root, ID, Bundle string
	Spec             *specs.Spec
	PidFile          string
	ConsoleSocket    string   // path of a unix socket that receives the pty master
	Console          *os.File // or: an already connected console socket (foreground `run -t`)
	PidfdSocket      string
	NoPivot          bool
	NoNewKeyring     bool
	PreserveFDs      int
	Systemd          bool
	Rootless         bool
}

// nsFlags maps runtime-spec namespace types to clone flags.
var nsFlags = map[specs.LinuxNamespaceType]uint32{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// Create builds a container up to the point where its init waits on the exec FIFO. On any failure it leaves
// nothing behind: no process, cgroup, state directory or fd.
func Create(o *CreateOpts) (c *Container, err error) {
	if o.Spec.Process != nil && o.Spec.Process.Terminal && o.ConsoleSocket == "" && o.Console == nil {
		return nil, errors.New("cannot allocate tty if husk will detach without setting console socket")
	}
	if o.Spec.Process != nil && !o.Spec.Process.Terminal && (o.ConsoleSocket != "" || o.Console != nil) {
		return nil, errors.New("cannot use console socket if husk will not detach or allocate tty")
	}
	if err := validateLSM(o.Spec.Process); err != nil {
		return nil, err
	}
	if o.Spec.Process != nil {
		// `runc spec` lists ambient capabilities without inheritable ones; the kernel cannot raise those,
		// and, as runc, husk leaves them out (debug: so that the common default config stays quiet).
		if caps, err := capabilities.FromSpec(o.Spec.Process.Capabilities); err == nil {
			if d := caps.AmbientDropped(); len(d) > 0 {
				logrus.Debugf("ambient capabilities %v are not both permitted and inheritable: not raised", d)
			}
		}
	}
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, fmt.Errorf("create root %s: %w", o.Root, err)
	}
	dir := filepath.Join(o.Root, o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, ErrExist
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	c = &Container{dir: dir, State: State{
		ID: o.ID, Bundle: o.Bundle, Rootfs: o.Spec.Root.Path, Created: time.Now().UTC(),
		Config: o.Spec, Systemd: o.Systemd, Rootless: o.Rootless,
	}}
	p := &parent{c: c, o: o, preserveFDs: o.PreserveFDs, consolePath: o.ConsoleSocket, console: o.Console, pidfdChild: -1}
	defer func() {
		if err != nil {
			p.abort()
		}
	}()
	if err := p.run(); err != nil {
		return nil, err
	}
	return c, nil
}

// parent is the create side of one container start.
type parent struct {
	c       *Container
	o       *CreateOpts // create only
	cg      cgroups.Manager
	cmd     *exec.Cmd
	sock    *hsync.Conn
	initPid int
	files   []*os.File // closed when create ends

	preserveFDs int
	consolePath string
	console     *os.File
	pidfdChild  int    // exec: the container init's pidfd, passed to nsenter (-1: none)
	pidfdFlags  uint32 // exec: the namespaces to join through it
	execProc    *specs.Process
	seccomp     *seccomp.Program // compiled in the parent; init only loads it
	lateCgroup  bool             // the process is moved into the cgroup while it sets up
	attached    chan error       // the result of that move (nil once collected)
}

func (p *parent) run() error {
	defer func() {
		for _, f := range p.files {
			f.Close()
		}
	}()
	ph := newPhases("create")
	defer ph.done()
	spec := p.o.Spec
	cgPath := ""
	if spec.Linux != nil {
		cgPath = spec.Linux.CgroupsPath
	}
	res := cgroupResources(spec, p.o.Rootless)
	cg, err := cgroups.NewWithAnnotations(cgPath, p.c.ID, p.o.Systemd, p.o.Rootless, spec.Annotations)
	if err != nil {
		return err
	}
	p.cg = cg
	p.c.CgroupPaths = cg.Paths()
	// First save: from here on `delete --force` can clean up after a create that is killed.
	if err := p.c.save(); err != nil {
		return err
	}
	ph.mark("cgroup+state")
	if p.seccomp, err = compileSeccomp(p.c.dir, spec); err != nil {
		return err
	}
	ph.mark("seccomp")
	fifo, err := p.makeFifo()
	if err != nil {
		return err
	}
	boot, err := bootstrap(spec)
	if err != nil {
		return err
	}
	// Without a cgroup namespace (which nsenter creates, so it must come after the move), the move of
	// init into the cgroup overlaps init's own set-up: on cgroup v1 the first cgroup.procs write
	// waits for an RCU grace period (~10 ms). The move always completes before hooks run and before
	// create returns, so no code of the container runs outside its cgroup.
	p.lateCgroup = !hasNamespace(spec, specs.CgroupNamespace)
	if err := p.spawn(boot, []extraFile{{"_HUSK_FIFOFD", fifo}}); err != nil {
		return err
	}
	ph.mark("spawn+nsenter")
	st, err := system.StartTime(p.initPid)
	if err != nil {
		return fmt.Errorf("container init exited during start-up: %w", err)
	}
	p.c.InitPid, p.c.InitStartTime = p.initPid, st
	if err := p.c.save(); err != nil {
		return err
	}
	if p.lateCgroup {
		p.attachLate(res)
	} else if res != nil {
		// The limits apply once init is in place, as runc does.
		if err := p.setResources(res); err != nil {
			return err
		}
	}
	ph.mark("resources")
	err = p.configure()
	ph.mark("init-setup")
	return err
}

// extraFile is an fd handed to init, named by an environment variable.
type extraFile struct {
	env string
	f   *os.File
}

// spawn starts `husk init` from the sealed binary, puts it in the cgroup, sends the bootstrap and serves
// nsenter until it reports the container process's pid.
func (p *parent) spawn(boot []byte, extra []extraFile) error {
	ph := newPhases("spawn")
	defer ph.done()
	exe, err := exeseal.Open()
	if err != nil {
		return fmt.Errorf("seal husk binary: %w", err)
	}
	p.files = append(p.files, exe)
	sock, child, err := hsync.NewPair()
	if err != nil {
		return err
	}
	p.sock = sock
	p.files = append(p.files, sock.File())
	defer child.Close()
	cmd := &exec.Cmd{
		Path:   fmt.Sprintf("/proc/self/fd/%d", exe.Fd()),
		Args:   []string{"husk", "init"},
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Env:    []string{"GOMAXPROCS=1"},
	}
	if p.o != nil {
		cmd.Dir = p.c.Bundle // relative bind-mount sources are relative to the bundle, as with runc
	}
	for i := 0; i < p.preserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	add := func(env string, f *os.File) {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		cmd.Env = append(cmd.Env, env+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	}
	add("_HUSK_INITPIPE", child)
	for _, e := range extra {
		add(e.env, e.f)
	}
	con, err := p.consoleSocket()
	if err != nil {
		return err
	}
	if con != nil {
		add("_HUSK_CONSOLE", con)
	}
	if p.pidfdChild >= 0 {
		// exec: the pidfd of the container's init travels as the next fd; nsenter joins through it.
		boot = append(boot, pidfdRecord(2+len(cmd.ExtraFiles)+1, p.pidfdFlags)...)
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(p.pidfdChild), "pidfd"))
	}
	ph.mark("seal")
	// exec on cgroup v2: clone3(CLONE_INTO_CGROUP) puts the process in its cgroup as it is born, with
	// no migration afterwards.
	cloned := false
	if dir := p.cloneIntoDir(); dir != "" {
		if fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			defer unix.Close(fd)
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
			cloned = true
		}
	}
	err = cmd.Start()
	if err != nil && cloned {
		// A kernel or seccomp policy without clone3: start it plainly, and move it below.
		cmd = &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Stdin: cmd.Stdin, Stdout: cmd.Stdout,
			Stderr: cmd.Stderr, Env: cmd.Env, Dir: cmd.Dir, ExtraFiles: cmd.ExtraFiles}
		cloned = false
		err = cmd.Start()
	}
	if err != nil {
		return fmt.Errorf("start container init: %w", err)
	}
	ph.mark("start")
	p.cmd = cmd
	// execCPUAffinity.initial holds until the process is in the container's cgroup; init applies final.
	if a := p.process().ExecCPUAffinity; a != nil && a.Initial != "" {
		set, err := procattr.ParseCPUList(a.Initial)
		if err != nil {
			return err
		}
		if err := unix.SchedSetaffinity(cmd.Process.Pid, set); err != nil {
			return fmt.Errorf("set initial cpu affinity: %w", err)
		}
	}
	// In the container's cgroup before it runs any code of ours past the bootstrap read (unless
	// create moves the init itself later, see lateCgroup).
	if !p.lateCgroup && !cloned {
		if err := p.cg.Apply(cmd.Process.Pid); err != nil {
			return err
		}
	}
	ph.mark("cgroup-apply")
	if err := sock.SendRaw(boot); err != nil {
		return p.initFailed(err)
	}
	err = p.waitInitPid()
	ph.mark("nsenter")
	return err
}

// cloneIntoDir is the cgroup v2 directory an exec'd process is cloned into ("" when not applicable:
// create, which moves its init while it sets up, and cgroup v1, which has no CLONE_INTO_CGROUP).
func (p *parent) cloneIntoDir() string {
	if p.o != nil {
		return ""
	}
	if sub, ok := p.cg.(*subCgroups); ok {
		if len(sub.dirs) == 1 && len(sub.Paths()) == 1 && sub.Paths()[""] != "" {
			return sub.dirs[0]
		}
		return ""
	}
	paths := p.cg.Paths()
	if len(paths) == 1 {
		return paths[""]
	}
	return ""
}

// process is the process being started: the container's, or the exec'd one.
func (p *parent) process() *specs.Process {
	if p.execProc != nil {
		return p.execProc
	}
	return p.c.Config.Process
}

// makeFifo creates the exec FIFO and returns an O_PATH handle for init.
func (p *parent) makeFifo() (*os.File, error) {
	path := filepath.Join(p.c.dir, fifoName)
	if err := unix.Mkfifo(path, 0o622); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Mode 0622 whatever the umask: init writes to it after switching to the container's user.
	if err := os.Chmod(path, 0o622); err != nil {
		return nil, fmt.Errorf("chmod exec fifo: %w", err)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	f := os.NewFile(uintptr(fd), "exec.fifo")
	p.files = append(p.files, f)
	return f, nil
}

// consoleSocket connects to --console-socket (or uses run's own socket) for init to send the pty master on.
func (p *parent) consoleSocket() (*os.File, error) {
	if p.console != nil {
		return p.console, nil
	}
	if p.consolePath == "" {
		return nil, nil
	}
	f, err := dialUnix(p.consolePath)
	if err != nil {
		return nil, err
	}
	p.files = append(p.files, f)
	return f, nil
}

// bootstrap encodes what nsenter does before the Go runtime starts.
func bootstrap(spec *specs.Spec) ([]byte, error) {
	var b hsync.Bootstrap
	var flags uint32
	newMountNS := false
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.MountNamespace && ns.Path == "" {
				newMountNS = true
			}
			f, ok := nsFlags[ns.Type]
			if !ok {
				return nil, fmt.Errorf("unknown namespace type %q", ns.Type)
			}
			if ns.Path != "" {
				b.JoinNamespace(f, ns.Path)
			} else {
				flags |= f
			}
		}
		if len(spec.Linux.TimeOffsets) > 0 {
			var sb strings.Builder
			for clock, off := range spec.Linux.TimeOffsets {
				fmt.Fprintf(&sb, "%s %d %d\n", clock, off.Secs, off.Nanosecs)
			}
			b.TimeOffsets(sb.String())
		}
	}
	// The rootfs is built by mounting: never in a mount namespace that is not the container's own.
	if !newMountNS {
		return nil, errors.New("a new mount namespace is required (linux.namespaces must have a \"mount\" entry without a path)")
	}
	b.CloneFlags(flags)
	if spec.Process != nil && spec.Process.OOMScoreAdj != nil {
		b.OOMScoreAdj(*spec.Process.OOMScoreAdj)
	}
	return b.Bytes(), nil
}

// waitInitPid serves nsenter's requests until it reports the init's pid, then reaps stage 0.
func (p *parent) waitInitPid() error {
	for {
		m, err := p.sock.Recv()
		if err != nil {
			return p.initFailed(err)
		}
		switch m.Type {
		case hsync.TypeUsermap:
			if err := writeIDMaps(m.Pid, p.c.Config.Linux); err != nil {
				return err
			}
			if err := p.sock.Send(&hsync.Msg{Type: hsync.TypeUsermapDone}); err != nil {
				return p.initFailed(err)
			}
		case hsync.TypePid:
			p.initPid = m.Pid
			if err := p.cmd.Wait(); err != nil {
				return fmt.Errorf("container init stage 0: %w", err)
			}
			p.cmd = nil
			return nil
		case hsync.TypeError:
			return errors.New(m.Msg)
		default:
			return fmt.Errorf("sync: unexpected %q from nsenter", m.Type)
		}
	}
}

// configure sends init its configuration and serves it until it is ready.
func (p *parent) configure() error {
	spec, err := setupNotify(p.c, p.o.Spec)
	if err != nil {
		return err
	}
	if p.c.NotifySocket != "" {
		if err := p.c.save(); err != nil {
			return err
		}
	}
	cfg := &initproc.Config{
		ID: p.c.ID, Bundle: p.c.Bundle, Rootfs: p.c.Rootfs, Spec: spec, HostPid: p.initPid,
		NoPivot: p.o.NoPivot, NoNewKeyring: p.o.NoNewKeyring, PreserveFDs: p.o.PreserveFDs,
		CgroupPaths: p.c.CgroupPaths, Seccomp: p.seccomp, LateCgroup: p.lateCgroup,
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := p.sock.Send(&hsync.Msg{Type: hsync.TypeConfig, Config: raw}); err != nil {
		return p.initFailed(err)
	}
	for {
		m, err := p.sock.Recv()
		if err != nil {
			return p.initFailed(err)
		}
		switch m.Type {
		case hsync.TypeCgroup:
			if err := p.waitAttached(); err != nil {
				return err
			}
			if err := p.sock.Send(&hsync.Msg{Type: hsync.TypeCgroupDone}); err != nil {
				return p.initFailed(err)
			}
		case hsync.TypeHooks:
			if err := p.waitAttached(); err != nil {
				return err
			}
			if h := p.o.Spec.Hooks; h != nil {
				st := p.c.specState(Creating)
				if err := hooks.Run("prestart", h.Prestart, st); err != nil {
					return err
				}
				if err := hooks.Run("createRuntime", h.CreateRuntime, st); err != nil {
					return err
				}
			}
			if err := p.sock.Send(&hsync.Msg{Type: hsync.TypeHooksDone}); err != nil {
				return p.initFailed(err)
			}
		case hsync.TypeSeccomp:
			if err := p.serveSeccomp(); err != nil {
				return err
			}
		case hsync.TypeReady:
			if err := p.waitAttached(); err != nil {
				return err
			}
			return p.finish()
		case hsync.TypeError:
			return errors.New(m.Msg)
		default:
			return fmt.Errorf("sync: unexpected %q from init", m.Type)
		}
	}
}

// attachLate moves the container process into its cgroup (and applies res) in the background, while
// the process sets itself up; waitAttached collects the result.
func (p *parent) attachLate(res *specs.LinuxResources) {
	p.attached = make(chan error, 1)
	go func(cg cgroups.Manager, pid int) {
		err := cg.Apply(pid)
		if err == nil && res != nil {
			err = p.setResources(res)
		}
		p.attached <- err
	}(p.cg, p.initPid)
}

// setResources applies the container's resources. Rootless, where the cgroup tree is usually not ours
// to write, a failure is a warning and the limits are not applied, as runc does.
func (p *parent) setResources(res *specs.LinuxResources) error {
	err := p.cg.Set(res)
	if err != nil && p.o != nil && p.o.Rootless {
		logrus.Warnf("rootless container: cgroup resources not applied: %v", err)
		return nil
	}
	return err
}

// waitAttached collects the result of the move of init into the cgroup (lateCgroup).
func (p *parent) waitAttached() error {
	if p.attached == nil {
		return nil
	}
	err := <-p.attached
	p.attached = nil
	return err
}

// initFailed turns a broken sync connection into the most useful error available.
func (p *parent) initFailed(err error) error {
	if errors.Is(err, hsync.ErrClosed) {
		if p.initPid > 0 {
			var ws unix.WaitStatus
			if _, werr := unix.Wait4(p.initPid, &ws, 0, nil); werr == nil {
				p.initPid = -p.initPid // reaped
				hint := ""
				if ws.Signaled() && ws.Signal() == unix.SIGKILL && p.memoryLimited() {
					hint = "; the container's memory limit may be too low for its start-up"
				}
				return fmt.Errorf("container init exited unexpectedly (%s%s)", waitText(ws), hint)
			}
		}
		return errors.New("container init exited unexpectedly")
	}
	return err
}

// memoryLimited tells whether the spec sets a memory limit (an init killed during start-up then most
// likely hit it).
func (p *parent) memoryLimited() bool {
	l := p.c.Config.Linux
	return l != nil && l.Resources != nil && l.Resources.Memory != nil && l.Resources.Memory.Limit != nil && *l.Resources.Memory.Limit > 0
}

func waitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

// finish writes the pid file and hands the pidfd out; the container is created.
func (p *parent) finish() error {
	if p.o.PidfdSocket != "" {
		if err := sendPidfd(p.o.PidfdSocket, p.initPid); err != nil {
			return err
		}
	}
	if p.o.PidFile != "" {
		if err := writePidFile(p.o.PidFile, p.initPid); err != nil {
			return err
		}
	}
	return nil
}

// abort undoes a failed create: kill what was started, remove the cgroup and the state directory.
func (p *parent) abort() {
	p.waitAttached() // never destroy the cgroup while it is still being set up
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
	if p.initPid > 0 {
		unix.Kill(p.initPid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(p.initPid, &ws, 0, nil)
	}
	if p.cg != nil {
		p.cg.Destroy()
	}
	os.RemoveAll(p.c.dir)
}

// validateLSM refuses, before anything is created, LSM settings this host cannot apply.
func validateLSM(proc *specs.Process) error {
	if proc != nil {
		if err := lsm.ValidateAppArmor(proc.ApparmorProfile); err != nil {
			return err
		}
		if err := lsm.ValidateSELinux(proc.SelinuxLabel); err != nil {
			return err
		}
	}
	return nil
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// pidfdRecord is the bootstrap record that makes nsenter join the namespaces of a pidfd.
func pidfdRecord(fd int, flags uint32) []byte {
	var b hsync.Bootstrap
	b.JoinPidfd(fd, flags)
	return b.Bytes()
}

// writeIDMaps writes a freshly created user namespace's maps (we are root in the parent namespace).
func writeIDMaps(pid int, l *specs.Linux) error {
	if l == nil {
		return errors.New("user namespace without id mappings")
	}
	write := func(file string, maps []specs.LinuxIDMapping) error {
		var sb strings.Builder
		for _, m := range maps {
			fmt.Fprintf(&sb, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		path := fmt.Sprintf("/proc/%d/%s", pid, file)
		if err := os.WriteFile(path, []byte(sb.String()), 0); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
		return nil
	}
	if err := write("uid_map", l.UIDMappings); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		// Rootless: an unprivileged gid_map write requires setgroups to be denied first.
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/setgroups", pid), []byte("deny"), 0); err != nil {
			return fmt.Errorf("write setgroups: %w", err)
		}
	}
	return write("gid_map", l.GIDMappings)
}

// writePidFile writes the pid atomically, as runc does (a temp file renamed into place).
func writePidFile(path string, pid int) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o666); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// sendPidfd sends a pidfd of the init process over the unix socket at path.
func sendPidfd(path string, pid int) error {
	fd, err := system.PidfdOpen(pid)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	sock, err := dialUnix(path)
	if err != nil {
		return fmt.Errorf("pidfd socket: %w", err)
	}
	defer sock.Close()
	return console.SendFd(sock, f, "pidfd")
}
