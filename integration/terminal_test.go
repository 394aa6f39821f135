//go:build linux

package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// ttyBuildRecvtty builds tests/recvtty into a temporary directory.
func ttyBuildRecvtty(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "recvtty")
	cmd := exec.Command(goBin, "build", "-o", bin, "./tests/recvtty")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build recvtty: %v: %s", err, out)
	}
	return bin
}

// ttyReceiver is a running recvtty.
type ttyReceiver struct {
	cmd    *exec.Cmd
	sock   string
	out    string
	info   string
	stderr *os.File
	done   chan error
}

// ttyListen starts recvtty on a fresh socket, writing input into the
// terminal once it arrives, and waits until the socket accepts connections.
func ttyListen(t *testing.T, bin, input string) *ttyReceiver {
	t.Helper()
	dir := t.TempDir()
	r := &ttyReceiver{sock: filepath.Join(dir, "tty.sock"), out: filepath.Join(dir, "out"), info: filepath.Join(dir, "info")}
	args := []string{"-socket", r.sock, "-out", r.out, "-info", r.info}
	if input != "" {
		args = append(args, "-input", input)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	r.stderr = errF
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stderr = errF
	if err := r.cmd.Start(); err != nil {
		errF.Close()
		t.Fatalf("start recvtty: %v", err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
		r.done <- nil
		errF.Close()
	})
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := os.Stat(r.sock); err == nil {
			return r
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("recvtty exited before listening: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("recvtty socket never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for recvtty to see the terminal close and returns what the
// container wrote (carriage returns removed) and the pty number it received.
func (r *ttyReceiver) wait(t *testing.T) (string, int) {
	t.Helper()
	var err error
	select {
	case err = <-r.done:
		r.done <- err
	case <-time.After(waitTimeout):
		t.Fatal("recvtty did not finish: the terminal was never closed")
	}
	errOut, _ := os.ReadFile(r.stderr.Name())
	if err != nil {
		t.Fatalf("recvtty: %v: %s", err, errOut)
	}
	out, err := os.ReadFile(r.out)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.ReadFile(r.info)
	if err != nil {
		t.Fatalf("recvtty info: %v", err)
	}
	var name string
	var ptn int
	if _, err := fmt.Sscanf(string(info), "name=%s ptn=%d", &name, &ptn); err != nil {
		t.Fatalf("recvtty info %q: %v", info, err)
	}
	// The payload is only a name (husk sends "/dev/pts/N", runc "/dev/ptmx");
	// clients ignore it.
	t.Logf("console socket message %q, pty %d", name, ptn)
	t.Logf("terminal output:\n%s", out)
	return strings.ReplaceAll(string(out), "\r", ""), ptn
}

// ttyHasLine reports whether out has line (trimmed) as one of its lines.
func ttyHasLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// ttyCheckFDs checks that fds 0-2 (and nothing else) are the pty.
func ttyCheckFDs(t *testing.T, out string, ptn int) {
	t.Helper()
	fds := exLinks(out)
	pts := "/dev/pts/" + strconv.Itoa(ptn)
	for _, fd := range []string{"0", "1", "2"} {
		if fds[fd] != pts {
			t.Errorf("fd %s -> %q, want the terminal %s", fd, fds[fd], pts)
		}
	}
	if keys := strings.Join(exSortedKeys(fds), " "); keys != "0 1 2" {
		t.Errorf("process fds %s (%v), want only 0 1 2", keys, fds)
	}
}

// TestTerminalCreateConsoleSocket: `create --console-socket` with
// process.terminal sends the pty master to the socket; the container's stdio
// is the pty, consoleSize applies, and /dev/console is the pty bind-mounted.
func TestTerminalCreateConsoleSocket(t *testing.T) {
	h := newHarness(t)
	bin := ttyBuildRecvtty(t)
	id := h.newID()
	script := `tty; stty size; stat -c 'console=%F %t:%T' /dev/console; ` +
		`grep -c ' /dev/console ' /proc/self/mountinfo; ls -l /proc/self/fd; read line; echo "got:$line"`
	b := h.newBundle(id, []string{"sh", "-c", script, id}, bundle.WithSpec(func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 30, Width: 100}
	}))
	r := ttyListen(t, bin, "hello-tty\n")
	h.mustRun("create", "--bundle", b.Dir, "--console-socket", r.sock, id)
	t.Cleanup(func() { h.run("delete", "--force", id) })
	h.start(id)
	out, ptn := r.wait(t)
	h.waitStatus(id, "stopped")
	h.mustRun("delete", id)

	pts := "/dev/pts/" + strconv.Itoa(ptn)
	if !ttyHasLine(out, pts) {
		t.Errorf("tty inside did not print %s: %q", pts, out)
	}
	if !ttyHasLine(out, "30 100") {
		t.Errorf("stty size inside is not consoleSize 30 100: %q", out)
	}
	if want := fmt.Sprintf("console=character special file 88:%x", ptn); !ttyHasLine(out, want) {
		t.Errorf("/dev/console is not pty %d (char 136:%d): want %q in %q", ptn, ptn, want, out)
	}
	if !ttyHasLine(out, "1") {
		t.Errorf("/dev/console is not a mount point: %q", out)
	}
	ttyCheckFDs(t, out, ptn)
	if !ttyHasLine(out, "got:hello-tty") {
		t.Errorf("input written to the master did not reach the container's stdin: %q", out)
	}
}

// TestTerminalExecConsoleSocket: `exec -t --console-socket` in the
// foreground and the conmon shape `exec --process --detach --tty
// --console-socket --pid-file`.
func TestTerminalExecConsoleSocket(t *testing.T) {
	h := newHarness(t)
	bin := ttyBuildRecvtty(t)
	id, _ := exRunning(h)

	r := ttyListen(t, bin, "from-exec\n")
	_, errOut, code := h.run("exec", "-t", "--console-socket", r.sock, id,
		"sh", "-c", `tty; ls -l /proc/self/fd; read l; echo "got:$l"; exit 3`)
	if code != 3 {
		t.Errorf("exec -t --console-socket: exit %d, want the process's 3 (stderr %q)", code, errOut)
	}
	out, ptn := r.wait(t)
	if !ttyHasLine(out, "/dev/pts/"+strconv.Itoa(ptn)) {
		t.Errorf("exec -t: tty did not print /dev/pts/%d: %q", ptn, out)
	}
	ttyCheckFDs(t, out, ptn)
	if !ttyHasLine(out, "got:from-exec") {
		t.Errorf("exec -t: input did not reach the process: %q", out)
	}

	r = ttyListen(t, bin, "")
	proc := exWriteProcess(t, specs.Process{
		Terminal:    true,
		ConsoleSize: &specs.Box{Height: 25, Width: 90},
		Args:        []string{"/bin/sh", "-c", "tty; stty size; ls -l /proc/self/fd; echo exec-done"},
		Env:         []string{"PATH=/bin:/usr/bin"},
		Cwd:         "/",
	})
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	h.mustRun("exec", "--pid-file", pidFile, "--process", proc, "--detach", "--tty", "--console-socket", r.sock, id)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err != nil || pid <= 0 {
		t.Errorf("pid file holds %q", data)
	}
	out, ptn = r.wait(t)
	if !ttyHasLine(out, "/dev/pts/"+strconv.Itoa(ptn)) || !ttyHasLine(out, "exec-done") {
		t.Errorf("detached exec --tty: output %q", out)
	}
	if !ttyHasLine(out, "25 90") {
		t.Errorf("detached exec --tty: stty size is not the process's consoleSize 25 90: %q", out)
	}
	ttyCheckFDs(t, out, ptn)
}

// ttyRunCmd runs husk in the foreground with output to a file and returns
// the command (started) and the output file's path.
func ttyRunCmd(t *testing.T, ctx context.Context, name string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return cmd, outPath
}

// ttyExitCode returns the exit code of a finished command.
func ttyExitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("killed by signal %v", ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestTerminalRunForeground: foreground `run` with process.terminal and no
// console socket uses the caller's terminal (util-linux script provides one),
// returns the container's status and deletes the container.
func TestTerminalRunForeground(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script is not installed")
	}
	h := newHarness(t)
	id := h.newID()
	// The long output before exit checks that husk drains the terminal
	// before it exits.
	sh := `tty; test -t 0 && echo stdin-is-tty; test -t 1 && echo stdout-is-tty; ` +
		`stat -c 'console=%t' /dev/console; ls -l /proc/self/fd; seq 1 30000; echo end-of-output; exit 4`
	b := h.newBundle(id, []string{"sh", "-c", sh, id}, bundle.WithSpec(func(s *specs.Spec) { s.Process.Terminal = true }))
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	line := fmt.Sprintf("exec %s --root %s run --bundle %s %s", huskBinary, h.root, b.Dir, id)
	cmd, outPath := ttyRunCmd(t, ctx, scriptBin, "-qec", line, "/dev/null")
	code := ttyExitCode(t, cmd.Wait())
	data, _ := os.ReadFile(outPath)
	if len(data) > 3000 {
		t.Logf("script output (start):\n%s\n...\n%s", data[:1500], data[len(data)-200:])
	} else {
		t.Logf("script output:\n%s", data)
	}
	out := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r", ""), "\x00", "")
	// script writes its terminal's VEOF character (NUL once husk has made the terminal raw) when its
	// own stdin hits EOF; the container's tty echoes it as "^@", anywhere in the output depending on
	// timing. It is script's input, faithfully relayed, not output of the container.
	out = strings.ReplaceAll(out, "^@", "")
	if code != 4 {
		t.Errorf("run -t in the foreground: exit %d, want the container's 4", code)
	}
	var pts string
	for _, l := range strings.Split(out, "\n") {
		// script echoes the EOF of its own stdin as "^@" before the output.
		if i := strings.Index(l, "/dev/pts/"); i >= 0 && !strings.Contains(l, "->") {
			pts = strings.TrimSpace(l[i:])
		}
	}
	if pts == "" {
		t.Fatalf("tty inside printed no /dev/pts/N: %q", out)
	}
	ptn, _ := strconv.Atoi(strings.TrimPrefix(pts, "/dev/pts/"))
	for _, want := range []string{"stdin-is-tty", "stdout-is-tty", "console=88", "30000", "end-of-output"} {
		if !ttyHasLine(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
	ttyCheckFDs(t, out, ptn)
	_, errOut, code2 := h.run("state", id)
	expectError(t, errOut, code2, "container does not exist")
}

// ttyWaitFor polls the file at path until it contains s.
func ttyWaitFor(t *testing.T, path, s string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if data, _ := os.ReadFile(path); strings.Contains(string(data), s) {
			return
		}
		select {
		case err := <-done:
			data, _ := os.ReadFile(path)
			t.Fatalf("husk exited (%v) before %q appeared: %q", err, s, data)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never appeared in %s", s, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestForegroundRunSignals: foreground `run` forwards the signals it gets to
// the container, exits with the container's status and deletes it.
func TestForegroundRunSignals(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	sh := `trap 'echo got-USR1' USR1; trap 'echo got-HUP' HUP; trap 'echo got-RT39' 39; trap 'echo got-TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done`
	b := h.newBundle(id, []string{"sh", "-c", sh, id})
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd, outPath := ttyRunCmd(t, ctx, huskBinary, "--root", h.root, "run", "--bundle", b.Dir, id)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ttyWaitFor(t, outPath, "ready", done)
	for sig, want := range map[syscall.Signal]string{syscall.SIGUSR1: "got-USR1", syscall.SIGHUP: "got-HUP", syscall.Signal(39): "got-RT39"} {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		ttyWaitFor(t, outPath, want, done)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := ttyExitCode(t, <-done)
	data, _ := os.ReadFile(outPath)
	if code != 3 {
		t.Errorf("run exit code %d after SIGTERM, want the container's 3 (output %q)", code, data)
	}
	if !strings.Contains(string(data), "got-TERM") {
		t.Errorf("SIGTERM was not forwarded to the container: %q", data)
	}
	_, errOut, code := h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// ttyPipeName returns "pipe:[inode]" of a pipe end, as /proc shows it.
func ttyPipeName(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pipe:[%d]", st.Ino)
}

// TestStdioPipeIdentity: without a terminal, the container's (and an exec'd
// process's) fds 0/1/2 are exactly the pipes husk was given.
func TestStdioPipeIdentity(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	sh := `readlink /proc/self/fd/0; readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2`
	b := h.newBundle(id, []string{"sh", "-c", sh, id})
	ex, _ := exRunning(h)
	cid := h.newID()
	cb := h.newBundle(cid, []string{"sh", "-c", sh, cid})
	for _, args := range [][]string{
		{"run", "--bundle", b.Dir, id},
		{"exec", ex, "sh", "-c", sh},
		{"create", "--bundle", cb.Dir, cid}, // then start: the shape conmon and the shim use
	} {
		var pipes [3][2]*os.File
		for i := range pipes {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			pipes[i] = [2]*os.File{r, w}
		}
		want := [3]string{ttyPipeName(t, pipes[0][0]), ttyPipeName(t, pipes[1][0]), ttyPipeName(t, pipes[2][0])}
		cmd := exec.Command(huskBinary, append([]string{"--root", h.root}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = pipes[0][0], pipes[1][1], pipes[2][1]
		err := cmd.Start()
		for i, p := range pipes {
			if i == 0 {
				p[0].Close()
			} else {
				p[1].Close()
			}
		}
		pipes[0][1].Close()
		if err != nil {
			pipes[1][0].Close()
			pipes[2][0].Close()
			t.Fatal(err)
		}
		outc := make(chan string, 2)
		for _, i := range []int{1, 2} {
			go func(f *os.File) {
				s, _ := readAllPipe(f)
				f.Close()
				outc <- s
			}(pipes[i][0])
		}
		code := ttyExitCode(t, cmd.Wait())
		if args[0] == "create" && code == 0 {
			h.start(cid)
			h.waitStatus(cid, "stopped")
			h.mustRun("delete", cid)
		}
		a, c := <-outc, <-outc
		got := a + c
		t.Logf("husk %v -> %d: %q", args, code, got)
		if code != 0 {
			t.Errorf("husk %v: exit %d", args, code)
			continue
		}
		for i, w := range want {
			if !ttyHasLine(got, w) {
				t.Errorf("husk %v: fd %d inside is not the given pipe %s: %q", args, i, w, got)
			}
		}
	}
	_, errOut, code := h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestTerminalNeedsConsoleSocket: a terminal process that husk will not stay
// attached to needs a console socket: create, run -d and exec -d -t without
// one fail with one error and leave nothing behind.
func TestTerminalNeedsConsoleSocket(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id), bundle.WithSpec(func(s *specs.Spec) { s.Process.Terminal = true }))
	for _, args := range [][]string{{"create", "--bundle", b.Dir, id}, {"run", "-d", "--bundle", b.Dir, id}} {
		_, errOut, code := h.run(args...)
		// runc: "cannot allocate tty if runc will detach without setting console socket".
		expectError(t, errOut, code, "cannot allocate tty if")
		if msg := errorMessage(errOut); !strings.Contains(msg, "console socket") {
			t.Errorf("husk %v: error %q does not mention the console socket", args, msg)
		}
		_, errOut, code = h.run("state", id)
		expectError(t, errOut, code, "container does not exist")
	}
	ex, _ := exRunning(h)
	_, errOut, code := h.run("exec", "-d", "-t", ex, "true")
	exExpectFailure(t, errOut, code, "console socket")
}

// TestExecPreserveFds checks --preserve-fds N: fds 3..3+N-1 of the runtime
// reach the process, and nothing beyond them.
func TestExecPreserveFds(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	extra, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	defer extra.Close()
	third, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	defer third.Close()

	runWith := func(args ...string) (string, int) {
		cmd := exec.Command(huskBinary, append([]string{"--root", h.root}, args...)...)
		var out strings.Builder
		cmd.Stdout = &out
		cmd.Stderr = &out
		// fd 3: the pipe, fd 4: /dev/null, fd 5: /dev/null (never preserved).
		cmd.ExtraFiles = []*os.File{w, extra, third}
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("husk %v: %v", args, err)
		}
		t.Logf("husk %v -> %d: %s", args, code, out.String())
		return out.String(), code
	}
	out, code := runWith("exec", "--preserve-fds", "2", id, "sh", "-c", "echo through-fd3 >&3; ls -l /proc/self/fd")
	w.Close()
	if code != 0 {
		t.Fatalf("exec --preserve-fds 2: exit %d: %s", code, out)
	}
	got, err := readAllPipe(r)
	if err != nil {
		t.Fatal(err)
	}
	if got != "through-fd3\n" {
		t.Errorf("pipe passed as fd 3 received %q, want %q", got, "through-fd3\n")
	}
	fds := exLinks(out)
	if keys := strings.Join(exSortedKeys(fds), " "); keys != "0 1 2 3 4" {
		t.Errorf("exec --preserve-fds 2: process fds %s (%v), want 0 1 2 3 4", keys, fds)
	}
	if fds["4"] != "/dev/null" || !strings.HasPrefix(fds["3"], "pipe:[") {
		t.Errorf("preserved fds point to %v, want 3 -> pipe, 4 -> /dev/null", fds)
	}

	out, code = runWith("exec", id, "ls", "-l", "/proc/self/fd")
	if code != 0 {
		t.Fatalf("exec: exit %d: %s", code, out)
	}
	if keys := strings.Join(exSortedKeys(exLinks(out)), " "); keys != "0 1 2" {
		t.Errorf("exec without --preserve-fds: process fds %s, want 0 1 2", keys)
	}
}

// readAllPipe reads r until EOF.
func readAllPipe(r *os.File) (string, error) {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b.String(), nil
			}
			return b.String(), err
		}
	}
}

// TestForegroundExecSignals: foreground `exec` forwards the signals it gets to the exec'd process
// (a real-time one too) and exits with its status.
func TestForegroundExecSignals(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h)
	sh := `trap 'echo got-USR2' USR2; trap 'echo got-RT40' 40; trap 'echo got-INT; exit 4' INT; echo ready; while :; do sleep 0.1; done`
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd, outPath := ttyRunCmd(t, ctx, huskBinary, "--root", h.root, "exec", id, "sh", "-c", sh)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ttyWaitFor(t, outPath, "ready", done)
	for sig, want := range map[syscall.Signal]string{syscall.SIGUSR2: "got-USR2", syscall.Signal(40): "got-RT40"} {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		ttyWaitFor(t, outPath, want, done)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := ttyExitCode(t, <-done); code != 4 {
		data, _ := os.ReadFile(outPath)
		t.Errorf("exec exit code %d after SIGINT, want the process's 4 (output %q)", code, data)
	}
}
