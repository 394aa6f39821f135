package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests in this file install filters for real. They re-execute the
// test binary as a child (childEnv names the mode); the child locks its
// goroutine to a thread, sets no_new_privs, loads the program from the file
// in progEnv, and then does what the mode says.
const (
	childEnv = "HUSK_SECCOMP_TEST_CHILD"
	progEnv  = "HUSK_SECCOMP_TEST_PROG"
	callsEnv = "HUSK_SECCOMP_TEST_CALLS"
	argEnv   = "HUSK_SECCOMP_TEST_ARG"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		runChild(mode)
		os.Exit(99) // runChild never returns
	}
	os.Exit(m.Run())
}

// call is one raw system call for the "calls" mode.
type call struct {
	Nr   uintptr    `json:"nr"`
	Args [6]uintptr `json:"args"`
}

func childFail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(90)
}

func runChild(mode string) {
	runtime.LockOSThread()
	raw, err := os.ReadFile(os.Getenv(progEnv))
	if err != nil {
		childFail("read program: %v", err)
	}
	var prog Program
	if err := json.Unmarshal(raw, &prog); err != nil {
		childFail("decode program: %v", err)
	}
	var calls []call
	if s := os.Getenv(callsEnv); s != "" {
		if err := json.Unmarshal([]byte(s), &calls); err != nil {
			childFail("decode calls: %v", err)
		}
	}
	// Children killed by SIGSYS must not leave core files behind.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		childFail("rlimit core: %v", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		childFail("no_new_privs: %v", err)
	}
	// Everything the filtered thread needs is allocated before loading.
	results := make([]uintptr, len(calls))
	out := make([]byte, 0, 32*len(calls)+8)
	fd, err := Load(&prog)
	if err != nil {
		childFail("%v", err)
	}
	switch mode {
	case "calls":
		// Raw calls only, results printed with one raw write: a strict
		// profile allows little more than that.
		for i, c := range calls {
			_, _, e := unix.RawSyscall6(c.Nr, c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4], c.Args[5])
			results[i] = uintptr(e)
		}
		for _, r := range results {
			out = strconv.AppendUint(out, uint64(r), 10)
			out = append(out, ' ')
		}
		unix.RawSyscall(unix.SYS_WRITE, 1, uintptr(unsafe.Pointer(unsafe.SliceData(out))), uintptr(len(out)))
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	case "exec":
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv(argEnv)), &args); err != nil {
			args = strings.Fields(os.Getenv(argEnv))
		}
		err := unix.Exec(args[0], args, os.Environ())
		childFail("exec %v: %v", args, err)
	case "notify":
		// The argument is "socket-path dir-to-create".
		parts := strings.Fields(os.Getenv(argEnv))
		st := &specs.ContainerProcessState{Pid: os.Getpid(), Metadata: "test-metadata",
			State: specs.State{ID: "c1", Status: specs.StateCreating, Pid: os.Getpid()}}
		if err := SendListener(parts[0], fd, st); err != nil {
			childFail("%v", err)
		}
		unix.Close(fd)
		if err := os.Mkdir(parts[1], 0o755); err != nil {
			childFail("mkdir: %v", err)
		}
		if _, err := os.Stat(parts[1]); !errors.Is(err, os.ErrNotExist) {
			childFail("mkdir was performed: stat %v", err)
		}
		os.Stdout.WriteString("notified-ok")
		os.Exit(0)
	}
	childFail("unknown mode %q", mode)
}

// runInChild compiles cfg, runs a child in the given mode and returns its
// stdout, stderr and wait status.
func runInChild(t *testing.T, cfg *specs.LinuxSeccomp, mode string, env ...string) (string, string, syscall.WaitStatus) {
	t.Helper()
	prog := mustCompile(t, cfg)
	b, err := json.Marshal(prog)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "prog.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, progEnv+"="+file)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run child: %v", err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// runtimeCalls are the syscalls the Go runtime may make on the filtered
// thread in "calls" mode, and the write/exit that report the results.
var runtimeCalls = []string{"write", "exit_group", "exit", "futex", "rt_sigreturn", "rt_sigprocmask",
	"sigaltstack", "sched_yield", "nanosleep", "clock_gettime", "gettid", "getpid", "tgkill", "mmap",
	"munmap", "madvise"}

// runInChildArgs runs argv under cfg in "exec" mode.
func runInChildArgs(t *testing.T, cfg *specs.LinuxSeccomp, argv []string) (string, string, syscall.WaitStatus) {
	t.Helper()
	b, err := json.Marshal(argv)
	if err != nil {
		t.Fatal(err)
	}
	return runInChild(t, cfg, "exec", argEnv+"="+string(b))
}

func callsEnvValue(t *testing.T, calls []call) string {
	b, err := json.Marshal(calls)
	if err != nil {
		t.Fatal(err)
	}
	return callsEnv + "=" + string(b)
}

func TestLoadErrnoArgsAndENOSYS(t *testing.T) {
	requireAMD64(t)
	cfg := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uptr(uint(unix.EPERM)),
		Syscalls: []specs.LinuxSyscall{
			{Names: runtimeCalls, Action: specs.ActAllow},
			{Names: []string{"uname"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EXDEV))},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			{Names: []string{"getegid"}, Action: specs.ActLog},
		},
	}
	calls := []call{
		{Nr: unix.SYS_UNAME}, // named, denied: its errno
		{Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{0xffffffff}}, // arg matches: runs
		{Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{8}},          // arg differs: default
		{Nr: unix.SYS_GETPPID},                                   // unnamed, older: default
		{Nr: unix.SYS_CLOSE_RANGE, Args: [6]uintptr{1000, 1001}}, // newer than the profile
		{Nr: unix.SYS_CLONE3},                                    // newer than the profile
		{Nr: unix.SYS_GETEGID},                                   // LOG: runs
	}
	out, errOut, ws := runInChild(t, cfg, "calls", callsEnvValue(t, calls))
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child: %v, stderr %q", ws, errOut)
	}
	want := fmt.Sprintf("%d 0 %d %d %d %d 0 ", unix.EXDEV, unix.EPERM, unix.EPERM, unix.ENOSYS, unix.ENOSYS)
	if out != want {
		t.Fatalf("errnos %q, want %q", out, want)
	}
}

func TestLoadKillProcess(t *testing.T) {
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActKillProcess}}}
	_, errOut, ws := runInChild(t, cfg, "calls", callsEnvValue(t, []call{{Nr: unix.SYS_GETPPID}}))
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, want killed by SIGSYS; stderr %q", ws, errOut)
	}
}

func TestLoadKillThreadThenExec(t *testing.T) {
	// SCMP_ACT_KILL kills the thread; after execve the program has one
	// thread, so the process dies of SIGSYS.
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"uname"}, Action: specs.ActKill}}}
	_, errOut, ws := runInChild(t, cfg, "exec", argEnv+"=/bin/busybox uname")
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, want killed by SIGSYS; stderr %q", ws, errOut)
	}
	// The same exec without the rule works.
	cfg.Syscalls[0].Names = []string{"getppid"}
	out, errOut, ws := runInChild(t, cfg, "exec", argEnv+"=/bin/busybox uname")
	if !ws.Exited() || ws.ExitStatus() != 0 || !strings.Contains(out, "Linux") {
		t.Fatalf("child: %v, stdout %q stderr %q", ws, out, errOut)
	}
}

func TestLoadTrap(t *testing.T) {
	// TRAP sends SIGSYS to the caller; the Go runtime treats a seccomp
	// SIGSYS as fatal and says so.
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActTrap}}}
	_, errOut, ws := runInChild(t, cfg, "calls", callsEnvValue(t, []call{{Nr: unix.SYS_GETPPID}}))
	if ws.Signaled() || !strings.Contains(errOut, "SIGSYS") {
		t.Fatalf("child: %v, want a handled SIGSYS; stderr %q", ws, errOut)
	}
}

func TestLoadNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	target := filepath.Join(dir, "made-by-agent")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	type agentResult struct {
		st       *specs.ContainerProcessState
		answered int
		err      error
	}
	done := make(chan agentResult, 1)
	go func() {
		var res agentResult
		defer func() { done <- res }()
		conn, err := l.AcceptUnix()
		if err != nil {
			res.err = err
			return
		}
		defer conn.Close()
		st, fd, err := ReceiveListener(conn)
		if err != nil {
			res.err = err
			return
		}
		defer unix.Close(fd)
		res.st = st
		for {
			req, err := NotifReceive(fd)
			if err != nil {
				return // the child is gone
			}
			// Pretend every mkdir worked.
			if err := NotifRespond(fd, &NotifResp{ID: req.ID}); err == nil {
				res.answered++
			}
		}
	}()

	flags := []specs.LinuxSeccompFlag{}
	for _, f := range SupportedFlags() {
		flags = append(flags, specs.LinuxSeccompFlag(f))
	}
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: sock, ListenerMetadata: "test-metadata",
		Flags:    flags,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}}}
	out, errOut, ws := runInChild(t, cfg, "notify", argEnv+"="+sock+" "+target)
	if !ws.Exited() || ws.ExitStatus() != 0 || out != "notified-ok" {
		t.Fatalf("child: %v, stdout %q stderr %q", ws, out, errOut)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("agent: %v", res.err)
	}
	if res.answered != 1 {
		t.Errorf("agent answered %d notifications, want 1", res.answered)
	}
	if res.st == nil || len(res.st.Fds) != 1 || res.st.Fds[0] != "seccompFd" || res.st.Metadata != "test-metadata" ||
		res.st.State.ID != "c1" || res.st.Version == "" {
		t.Errorf("agent got state %+v", res.st)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory exists: %v", err)
	}
}

func TestSendListenerNoSocket(t *testing.T) {
	err := SendListener(filepath.Join(t.TempDir(), "absent.sock"), 0, &specs.ContainerProcessState{})
	if err == nil || !strings.Contains(err.Error(), "connect to listener socket") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadRejectsEmpty(t *testing.T) {
	if _, err := Load(&Program{}); err == nil {
		t.Fatal("empty program loaded")
	}
}
