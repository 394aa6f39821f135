package libcontainer

// The parent side of starting a container process, shared by create and exec: sealing and spawning
// `husk init`, serving nsenter (id maps, the process's pid), moving the process into its cgroup, and
// turning a broken handshake into a readable error. The protocol is in libcontainer/sync.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/console"
	"github.com/husk-runtime/husk/libcontainer/procattr"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
	hsync "github.com/husk-runtime/husk/libcontainer/sync"
	"github.com/husk-runtime/husk/libcontainer/system"
)

// parent is husk's side of starting one container process: the container's init (create) or an
// exec'd process.
type parent struct {
	c       *Container
	o       *CreateOpts // create only
	cg      cgroups.Manager
	stage0  int // pid of `husk init` (nsenter's stage 0) until it is reaped
	sock    *hsync.Conn
	initPid int
	files   []*os.File // closed when create ends

	preserveFDs  int
	consolePath  string
	console      *os.File
	pidfdChild   int    // exec: the container init's pidfd, passed to nsenter (-1: none)
	pidfdFlags   uint32 // exec: the namespaces to join through it
	execProc     *specs.Process
	seccomp      *seccomp.Program      // compiled in the parent; init only loads it
	lateCgroup   bool                  // the process is moved into the cgroup while it sets up
	joined       bool                  // cgroup v1: nsenter's stage 0 joins the cgroups itself (sync.JoinCgroup)
	earlyRes     *specs.LinuxResources // create: the limits cgroupReady writes once the directories exist
	lateRes      *specs.LinuxResources // create: the memory and pids limits, applied once init is ready
	memoryLast   bool                  // create on cgroup v1: init joins the memory hierarchy after that
	attached     chan error            // the result of that move, or of setLimits (nil once collected)
	sealed       chan sealResult       // the sealed binary, made in the background (startSeal)
	cgroupMade   chan error            // create: the cgroup directories, made in the background (startCgroup)
	cloned       bool                  // started in its cgroup (cloneIntoDir)
	intoDir      string                // cloneIntoDir's answer, once intoDirKnown
	intoDirKnown bool                  // intoDir is set
	bootTail     []byte                // exec: the bootstrap record of the pidfd (its fd number is known at start)
	spawnPhases  *phases               // from start to boot
}

// extraFile is an fd handed to init, named by an environment variable.
type extraFile struct {
	env string
	f   *os.File
}

// spawn starts `husk init` from the sealed binary, puts it in the cgroup, sends the bootstrap and serves
// nsenter until it reports the container process's pid.
func (p *parent) spawn(boot []byte, extra []extraFile) error {
	if err := p.start(extra); err != nil {
		return err
	}
	return p.boot(boot)
}

// start starts `husk init` from the sealed binary: nsenter's stage 0 then waits for its bootstrap
// (boot), so the caller may prepare that meanwhile.
func (p *parent) start(extra []extraFile) error {
	ph := newPhases("spawn")
	p.spawnPhases = ph
	exe, err := p.takeSeal()
	if err != nil {
		return fmt.Errorf("seal husk binary: %w", err)
	}
	sock, child, err := hsync.NewPair()
	if err != nil {
		return err
	}
	p.sock = sock
	p.files = append(p.files, sock.File())
	defer child.Close()
	args := []string{"husk", "init"}
	env := []string{"GOMAXPROCS=1"}
	if slack := system.CallerTimerSlack(); slack != 0 {
		env = append(env, "_HUSK_TIMERSLACK="+strconv.FormatUint(slack, 10))
	}
	dir := ""
	if p.o != nil {
		dir = p.c.Bundle // relative bind-mount sources are relative to the bundle, as with runc
	}
	files := []uintptr{0, 1, 2}
	for i := 0; i < p.preserveFDs; i++ {
		files = append(files, uintptr(3+i))
	}
	add := func(name string, f *os.File) {
		files = append(files, f.Fd())
		env = append(env, name+"="+strconv.Itoa(len(files)-1))
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
		p.bootTail = pidfdRecord(len(files), p.pidfdFlags)
		files = append(files, uintptr(p.pidfdChild))
	}
	// The child execs /proc/self/fd/N after it has moved files into place: syscall.ForkExec then
	// overwrites fds 0..len(files)-1 and the numbers just above the highest fd in files (its error
	// pipe, and the copies it makes to avoid clobbering). N must be out of that range.
	exeFd, err := exeFdAbove(exe.Fd(), files)
	if err != nil {
		return err
	}
	defer unix.Close(exeFd)
	path := "/proc/self/fd/" + strconv.Itoa(exeFd)
	ph.mark("seal")
	// On cgroup v2, clone3(CLONE_INTO_CGROUP) puts the process in its cgroup as it is born, with no
	// migration afterwards.
	var sys *syscall.SysProcAttr
	if cgDir := p.cloneIntoDir(); cgDir != "" {
		if err := p.cgroupReady(); err != nil { // cloned into the directory: it must exist
			return err
		}
		if fd, err := unix.Open(cgDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			defer unix.Close(fd)
			sys = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		}
	}
	// syscall.ForkExec rather than os/exec: os.StartProcess first probes pidfd support with a
	// throw-away vfork'd child, once per process, so on every create and exec.
	attr := &syscall.ProcAttr{Dir: dir, Env: env, Files: files, Sys: sys}
	pid, err := syscall.ForkExec(path, args, attr)
	cloned := err == nil && sys != nil
	if err != nil && sys != nil {
		// A kernel or seccomp policy without clone3: start it plainly, and move it below.
		attr.Sys = nil
		pid, err = syscall.ForkExec(path, args, attr)
	}
	runtime.KeepAlive(child)
	runtime.KeepAlive(extra)
	if err != nil {
		return fmt.Errorf("start container init: %w", err)
	}
	ph.mark("start")
	p.stage0, p.cloned = pid, cloned
	// execCPUAffinity.initial holds until the process is in the container's cgroup; init applies final.
	if a := p.process().ExecCPUAffinity; a != nil && a.Initial != "" {
		set, err := procattr.ParseCPUList(a.Initial)
		if err != nil {
			return err
		}
		if err := unix.SchedSetaffinity(pid, set); err != nil {
			return fmt.Errorf("set initial cpu affinity: %w", err)
		}
	}
	return nil
}

// boot puts the started stage 0 in the cgroup, sends it the bootstrap and serves nsenter until it
// reports the container process's pid.
func (p *parent) boot(boot []byte) error {
	ph := p.spawnPhases
	ph.resume() // from start's end to here is the caller's preparation
	defer ph.done()
	// In the container's cgroup before it runs any code of ours past the bootstrap read (unless it
	// joins itself, or create moves the init later: joined, lateCgroup).
	if !p.lateCgroup && !p.cloned && !p.joined {
		if err := p.cg.Apply(p.stage0); err != nil {
			return err
		}
	}
	ph.mark("cgroup-apply")
	if err := p.cgroupReady(); err != nil { // cgroup v1: stage 0 joins the directories itself
		return err
	}
	ph.mark("before-boot")
	if err := p.sock.SendRaw(append(boot, p.bootTail...)); err != nil {
		return p.initFailed(err)
	}
	err := p.waitInitPid()
	ph.mark("nsenter")
	return err
}

// exeFdAbove returns a close-on-exec copy of exe's fd numbered above whatever syscall.ForkExec's child
// writes to when it installs files: fds 0..len(files)-1, then, from just above the highest of
// len(files)-1 and every fd in files, its error pipe and one copy per fd it must move out of the way.
func exeFdAbove(exe uintptr, files []uintptr) (int, error) {
	top := len(files)
	for _, f := range files {
		top = max(top, int(f))
	}
	fd, err := unix.FcntlInt(exe, unix.F_DUPFD_CLOEXEC, top+len(files)+4)
	if err != nil {
		return -1, fmt.Errorf("seal husk binary: %w", err)
	}
	return fd, nil
}

// cloneIntoDir is the cgroup v2 directory the process is cloned into ("" when not applicable: cgroup
// v1, which has no CLONE_INTO_CGROUP; and for create, rootless husk and the systemd driver, which
// moves init into the unit it creates). It is worked out once: later calls must not wait for the
// manager's lock while startCgroup's Apply holds it.
func (p *parent) cloneIntoDir() string {
	if !p.intoDirKnown {
		p.intoDir, p.intoDirKnown = p.findCloneIntoDir(), true
	}
	return p.intoDir
}

func (p *parent) findCloneIntoDir() string {
	if p.o != nil && (p.o.Systemd || p.o.Rootless) {
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

// reapStage0 waits for nsenter's stage 0, which exits once it has forked the container process.
func (p *parent) reapStage0() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.stage0, &ws, 0, nil)
		if err != unix.EINTR {
			p.stage0 = 0
			return ws, err
		}
	}
}

// endStage0 reaps nsenter's stage 0 once it has reported the container process's pid; the caller
// first sends what that process waits for, so that it need not wait for stage 0's exit too.
func (p *parent) endStage0() error {
	if p.stage0 <= 0 {
		return nil
	}
	ws, err := p.reapStage0()
	if err == nil && (!ws.Exited() || ws.ExitStatus() != 0) {
		err = errors.New(waitText(ws))
	}
	if err != nil {
		return fmt.Errorf("container init stage 0: %w", err)
	}
	return nil
}

// killStage0 kills and reaps nsenter's stage 0 if it is still there (a failed create or exec).
func (p *parent) killStage0() {
	if p.stage0 > 0 {
		unix.Kill(p.stage0, unix.SIGKILL)
		p.reapStage0()
	}
}

// process is the process being started: the container's, or the exec'd one.
func (p *parent) process() *specs.Process {
	if p.execProc != nil {
		return p.execProc
	}
	return p.c.Config.Process
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

// waitInitPid serves nsenter's requests until it reports the init's pid (stage 0 then exits: see
// endStage0).
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
			return nil
		case hsync.TypeError:
			return errors.New(m.Msg)
		default:
			return fmt.Errorf("sync: unexpected %q from nsenter", m.Type)
		}
	}
}

// joinRecords is the bootstrap that makes nsenter's stage 0 join the cgroup v1 directories dirs.
func joinRecords(dirs []string) []byte {
	var b hsync.Bootstrap
	for _, dir := range dirs {
		b.JoinCgroup(dir)
	}
	return b.Bytes()
}

// selfJoinDirs lists the cgroup v1 directories nsenter's stage 0 joins by itself (sync.JoinCgroup):
// all but the one holding controller except (if not ""). It is nil where the process is moved or
// cloned by the parent instead: cgroup v2 and systemd, and rootless husk, whose v1 manager leaves out
// the hierarchies it has no permission on when it moves the process.
func selfJoinDirs(cg cgroups.Manager, rootless bool, except string) []string {
	if rootless {
		return nil
	}
	if sub, ok := cg.(*subCgroups); ok {
		if _, v1 := sub.Manager.(cgroups.Splitter); !v1 {
			return nil
		}
		return sub.dirs
	}
	if _, v1 := cg.(cgroups.Splitter); !v1 {
		return nil
	}
	paths := cg.Paths()
	skip := ""
	if except != "" {
		skip = paths[except]
	}
	seen := map[string]bool{}
	dirs := []string{}
	for _, dir := range paths {
		if dir != skip && !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	return dirs
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
	spec, err := p.c.FullConfig() // an error path: the resources are worth decoding here
	if err != nil || spec == nil {
		return false
	}
	l := spec.Linux
	return l != nil && l.Resources != nil && l.Resources.Memory != nil && l.Resources.Memory.Limit != nil && *l.Resources.Memory.Limit > 0
}

func waitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
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
	if err := writeFileAtomic(path, []byte(strconv.Itoa(pid)), 0o666); err != nil {
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
