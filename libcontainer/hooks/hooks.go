// Package hooks runs OCI lifecycle hooks (prestart, createRuntime,
// createContainer, startContainer, poststart, poststop).
package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/system"
)

// maxOutput is how much of a hook's stdout and stderr an error quotes.
const maxOutput = 1024

// Run runs hooks in order and stops at the first failure. kind names the
// hook list in errors ("prestart", "createRuntime", ...). For "poststart"
// and "poststop", whose failures runtime-spec makes warnings, every hook
// runs and the failures are returned together on one line ("; "-separated).
//
// Each hook runs with Path as the program, Args as its whole argv (Args[0] is
// argv[0]; Path when Args is empty), exactly Env as its environment (empty
// when Env is empty; the runtime's own environment is not inherited), and
// the JSON of state on stdin. Its stdout and stderr are captured in memory
// files rather than pipes, so a daemon left behind by a hook cannot keep Run
// waiting. A hook with a Timeout is killed with SIGKILL (together with its
// process group) once that many seconds pass.
//
// Only fds 0, 1 and 2 reach a hook: descriptors of the caller that are not
// close-on-exec are marked so for the short moment of the fork and restored
// afterwards.
//
// A failure reads, on one line,
//
//	prestart hook #0 (/usr/bin/x): exit status 1, stdout: ..., stderr: ...
//	prestart hook #0 (/usr/bin/x): timeout after 5 seconds
func Run(kind string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	if state == nil {
		return fmt.Errorf("%s hooks: no container state", kind)
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: encode state: %w", kind, err)
	}
	var failed []string
	for i, h := range hooks {
		if err := runOne(h, data); err != nil {
			err = fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
			if !continuesOnFailure(kind) {
				return err
			}
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// continuesOnFailure reports whether a failing hook of kind leaves the rest
// of its list to run: runtime-spec says the remaining poststart and poststop
// hooks run after a failure (which is only a warning).
func continuesOnFailure(kind string) bool {
	return kind == "poststart" || kind == "poststop"
}

// memFile returns a close-on-exec anonymous memory file holding content,
// positioned at its start.
func memFile(name string, content []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if len(content) > 0 {
		if _, err := f.Write(content); err != nil {
			f.Close()
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek %s: %w", name, err)
		}
	}
	return f, nil
}

func runOne(h specs.Hook, state []byte) error {
	if h.Timeout != nil && *h.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, got %d", *h.Timeout)
	}
	stdin, err := memFile("hook-stdin", state)
	if err != nil {
		return err
	}
	defer stdin.Close()
	stdout, err := memFile("hook-stdout", nil)
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := memFile("hook-stderr", nil)
	if err != nil {
		return err
	}
	defer stderr.Close()

	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = h.Args
	if len(cmd.Args) == 0 {
		cmd.Args = []string{h.Path}
	}
	cmd.Env = append([]string{}, h.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The hook leads its own process group; kill all of it.
		return unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	}

	if err := startSealed(cmd); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	werr := cmd.Wait()
	if werr != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg := "timeout after " + strconv.Itoa(*h.Timeout) + " seconds"
		if out := describe(stdout, stderr); out != "" {
			msg += ", " + out
		}
		return errors.New(msg)
	}
	if werr != nil {
		if out := describe(stdout, stderr); out != "" {
			return fmt.Errorf("%w, %s", werr, out)
		}
		return werr
	}
	return nil
}

// describe renders the captured output as "stdout: ..., stderr: ..." on one
// line; it returns "" when both are empty.
func describe(stdout, stderr *os.File) string {
	o, e := readOutput(stdout), readOutput(stderr)
	if o == "" && e == "" {
		return ""
	}
	return "stdout: " + o + ", stderr: " + e
}

func readOutput(f *os.File) string {
	buf := make([]byte, maxOutput+1)
	n, _ := f.ReadAt(buf, 0)
	s := string(buf[:n])
	truncated := n > maxOutput
	if truncated {
		s = s[:maxOutput]
	}
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s = strings.Join(lines, " | ")
	if truncated {
		s += " (truncated)"
	}
	return s
}

// forkMu serializes startSealed, which changes process-wide fd flags.
var forkMu sync.Mutex

// startSealed starts cmd with every inherited descriptor above 2 marked
// close-on-exec, then restores the flags of those the caller had left
// inheritable (the caller may be about to hand them to the container).
func startSealed(cmd *exec.Cmd) error {
	forkMu.Lock()
	defer forkMu.Unlock()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open fds: %w", err)
	}
	var marked []int
	defer func() {
		for _, fd := range marked {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
		}
	}()
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC != 0 {
			continue // closed meanwhile (the directory fd) or already sealed
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return fmt.Errorf("mark fd %d close-on-exec: %w", fd, err)
		}
		marked = append(marked, fd)
	}
	return system.WithCallerTimerSlack(cmd.Start)
}
