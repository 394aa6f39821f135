package libcontainer

import (
	"errors"
	"fmt"
	"os"
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

// seccompFile holds the container's compiled seccomp program in its state directory
// (seccomp.Program.MarshalBinary): create saves it, exec loads it instead of decoding, hashing and
// checking the profile again.
const seccompFile = "seccomp.bpf"

// saveSeccompProgram writes prog to the container's state directory (atomically, like state.json).
func saveSeccompProgram(dir string, prog *seccomp.Program) error {
	b, err := prog.MarshalBinary()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, seccompFile), b, 0o600); err != nil {
		return fmt.Errorf("save seccomp program: %w", err)
	}
	return nil
}

// seccompProgram returns the container's compiled seccomp program (nil without a profile): the one
// create saved, or, for a container created by an earlier husk, the profile compiled again.
func (c *Container) seccompProgram() (*seccomp.Program, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, seccompFile))
	if errors.Is(err, os.ErrNotExist) {
		sc, err := c.Seccomp()
		if err != nil || sc == nil {
			return nil, err
		}
		return compileSeccomp(c.dir, c.Config)
	}
	if err != nil {
		return nil, fmt.Errorf("read seccomp program: %w", err)
	}
	var prog seccomp.Program
	if err := prog.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("read seccomp program: %w", err)
	}
	if prog.Notify {
		// serveSeccomp hands the listener to linux.seccomp.listenerPath.
		if _, err := c.Seccomp(); err != nil {
			return nil, err
		}
	}
	return &prog, nil
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
