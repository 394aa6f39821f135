package libcontainer

import (
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/console"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
	hsync "github.com/husk-runtime/husk/libcontainer/sync"
)

// compileSeccomp compiles the spec's profile in the parent, with the compiled-BPF cache beside the state
// directories (<root>/.seccomp-cache), and checks that the filter does not kill or trap a syscall that init
// itself still makes after loading it (runc hangs on such a profile; husk fails create with one line).
func compileSeccomp(stateDir string, spec *specs.Spec) (*seccomp.Program, error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, nil
	}
	prog, err := seccomp.CompileCached(spec.Linux.Seccomp, filepath.Join(filepath.Dir(stateDir), ".seccomp-cache"))
	if err != nil {
		return nil, err
	}
	calls := []string{"execve"}
	if prog.Notify {
		// A notify filter is loaded before init reports ready (its listener must reach the agent while
		// the parent still runs): everything init does afterwards must pass.
		calls = append(calls, "sendmsg", "recvfrom", "write", "openat", "close", "setresuid", "setresgid", "setgroups", "capset", "prctl", "chdir", "getcwd", "fcntl", "close_range")
	} else if spec.Process != nil && !spec.Process.NoNewPrivileges {
		calls = append(calls, "capset", "prctl")
	}
	if err := prog.CheckCalls(calls...); err != nil {
		return nil, fmt.Errorf("seccomp profile blocks a syscall husk's init makes after loading it: %w", err)
	}
	return prog, nil
}

// serveSeccomp receives a notify listener from init and delivers it to the spec's listenerPath.
func (p *parent) serveSeccomp() error {
	f, err := console.RecvFd(p.sock.File())
	if err != nil {
		return fmt.Errorf("receive seccomp listener: %w", err)
	}
	defer f.Close()
	sc := p.c.Config.Linux.Seccomp
	st := &specs.ContainerProcessState{
		Version: specs.Version, Pid: p.initPid, Metadata: sc.ListenerMetadata,
		State: *p.c.specState(Creating),
	}
	st.State.Pid = p.initPid
	if err := seccomp.SendListener(sc.ListenerPath, int(f.Fd()), st); err != nil {
		return err
	}
	return p.sock.Send(&hsync.Msg{Type: hsync.TypeSeccompDone})
}
