package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/hooks"
	"github.com/husk-runtime/husk/libcontainer/initproc"
	"github.com/husk-runtime/husk/libcontainer/lsm"
	hsync "github.com/husk-runtime/husk/libcontainer/sync"
	"github.com/husk-runtime/husk/libcontainer/system"
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
	p.startSeal()
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

func (p *parent) run() error {
	defer p.closeFiles()
	ph := newPhases("create")
	defer ph.done()
	spec := p.o.Spec
	cgPath := ""
	if spec.Linux != nil {
		cgPath = spec.Linux.CgroupsPath
	}
	res := cgroupResources(spec, p.o.Rootless)
	cg, err := cgroups.New(cgPath, p.c.ID, p.o.Systemd, p.o.Rootless, spec.Annotations)
	if err != nil {
		return err
	}
	p.cg, p.c.cg = cg, cg
	p.c.CgroupPaths = cg.Paths()
	// First save: from here on `delete --force` can clean up after a create that is killed.
	if err := p.c.save(); err != nil {
		return err
	}
	// Memory and pids limits wait until init has set itself up (what init allocates would be charged
	// to the container, and its Go runtime's threads count as tasks: small limits would kill init).
	// They are written before create returns, so before any code of the container runs.
	early, late := splitLateResources(res)
	p.lateRes = late
	joins, limitsEarly := p.planCgroup(spec, early, late)
	ph.mark("cgroup+state")
	if p.seccomp, err = compileSeccomp(p.c.dir, spec); err != nil {
		return err
	}
	if p.seccomp != nil {
		if err := saveSeccompProgram(p.c.dir, p.seccomp); err != nil {
			return err
		}
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
	boot = append(joins, boot...)
	if err := p.spawn(boot, []extraFile{{"_HUSK_FIFOFD", fifo}}); err != nil {
		return err
	}
	if err := p.endStage0(); err != nil {
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
		p.attachLate(early)
	} else if !limitsEarly && early != nil {
		// Moved by the parent before the bootstrap (a cgroup namespace): the limits apply once init is
		// in place, as runc does.
		if err := p.setResources(early); err != nil {
			return err
		}
	}
	ph.mark("resources")
	err = p.configure()
	ph.mark("init-setup")
	return err
}

// planCgroup decides how the container's process enters its cgroup; it does so before it creates any
// namespace or runs any code of the container:
//   - cgroup v1: nsenter's stage 0 joins each hierarchy itself (no RCU grace period, see
//     sync.JoinCgroup); planCgroup returns the bootstrap records for that;
//   - cgroup v2: the process is cloned into its cgroup (CLONE_INTO_CGROUP);
//   - the systemd driver and rootless husk: the parent moves init (lateCgroup, or before the
//     bootstrap with a cgroup namespace, which nsenter creates).
//
// In the first two cases the cgroup directories are created in the background from here on (0.3-0.5
// ms for the nine hierarchies of a cgroup v1 host), overlapping the seccomp program, the FIFO and the
// start of husk init, and early is written once they exist (cgroupReady), so before init receives its
// configuration; limitsEarly then is true.
func (p *parent) planCgroup(spec *specs.Spec, early, late *specs.LinuxResources) (joins []byte, limitsEarly bool) {
	cgroupNS := hasNamespace(spec, specs.CgroupNamespace)
	splitter, v1 := p.cg.(cgroups.Splitter)
	selfJoin := v1 && !p.o.Rootless // see selfJoinDirs
	limitsEarly = selfJoin || p.cloneIntoDir() != ""
	// On cgroup v1, with a small memory limit, init joins the memory hierarchy only after the limit is
	// set, so that none of its set-up is charged to the container: a limit of a few hundred KiB is
	// then enough for the user's process. Not with a cgroup namespace: its root is taken from the
	// cgroups init is in when nsenter creates the namespace. (Where the parent moves init itself, that
	// move waits for a grace period anyway: any memory limit then.)
	if v1 && !cgroupNS && late != nil && late.Memory != nil && splitter.HasController("memory") {
		p.memoryLast = !selfJoin || smallMemoryLimit(late)
	}
	if selfJoin {
		except := ""
		if p.memoryLast {
			except = "memory"
		}
		joins, p.joined = joinRecords(selfJoinDirs(p.cg, p.o.Rootless, except)), true
	}
	if !limitsEarly {
		// The move overlaps init's own set-up, and always completes before hooks run and before
		// create returns.
		p.lateCgroup = !cgroupNS
		return joins, false
	}
	// Nothing above may wait for the manager's lock, which Apply holds from here on.
	p.earlyRes = early
	p.startCgroup()
	return joins, true
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
	if spec.Linux != nil && spec.Linux.Seccomp != nil {
		// init loads the compiled filter (Seccomp below): the profile itself, often hundreds of rules,
		// would only be encoded and decoded again.
		spec = withoutSeccomp(spec)
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
	if !p.lateCgroup {
		if err := p.waitAttached(); err != nil { // the limits written by setLimits
			return err
		}
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
			if p.lateRes != nil {
				if err := p.setResources(p.lateRes); err != nil {
					return err
				}
			}
			if p.memoryLast {
				if err := p.cg.(cgroups.Splitter).ApplyController(p.initPid, "memory"); err != nil {
					return err
				}
			}
			return p.finish()
		case hsync.TypeError:
			return errors.New(m.Msg)
		default:
			return fmt.Errorf("sync: unexpected %q from init", m.Type)
		}
	}
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
	p.waitCgroup() // never destroy the cgroup while it is still being set up
	p.waitAttached()
	p.killStage0()
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

// splitLateResources splits res into what applies before init runs and the memory and pids limits,
// which apply once init is set up (late is nil when res sets neither).
func splitLateResources(res *specs.LinuxResources) (early, late *specs.LinuxResources) {
	if res == nil || (res.Memory == nil && res.Pids == nil) {
		return res, nil
	}
	cp := *res
	late = &specs.LinuxResources{Memory: res.Memory, Pids: res.Pids}
	cp.Memory, cp.Pids = nil, nil
	return &cp, late
}

// memoryLastBelow is the memory limit under which, on cgroup v1, init joins the memory hierarchy
// only once it is set up (a second cgroup migration, which waits for an RCU grace period). Above it,
// what init's set-up is charged (about 2-3 MiB) leaves the container most of its limit.
const memoryLastBelow = 64 << 20

// smallMemoryLimit tells whether late sets a memory or memory+swap limit below memoryLastBelow.
func smallMemoryLimit(late *specs.LinuxResources) bool {
	if late == nil || late.Memory == nil {
		return false
	}
	small := func(v *int64) bool { return v != nil && *v > 0 && *v < memoryLastBelow }
	return small(late.Memory.Limit) || small(late.Memory.Swap)
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
