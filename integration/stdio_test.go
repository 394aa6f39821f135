//go:build linux

package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runWithStdio runs the runtime with --root and the given stdio files, as
// conmon and the shim do (they hand the runtime pipes or FIFOs that the
// container inherits). It returns the exit code.
func (h *harness) runWithStdio(stdin, stdout, stderr *os.File, args ...string) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	full := append([]string{"--root", h.root}, args...)
	cmd := exec.CommandContext(ctx, huskBinary, full...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		h.t.Fatalf("husk %s: timed out", strings.Join(full, " "))
	case errors.As(err, &exitErr):
		return exitErr.ExitCode()
	case err != nil:
		h.t.Fatalf("husk %s: %v", strings.Join(full, " "), err)
	}
	return 0
}

func tempFile(t *testing.T, name, content string) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestStdioPassthrough: without a terminal, the container's stdin, stdout
// and stderr are the descriptors the runtime was started with, for
// create+start as for run.
func TestStdioPassthrough(t *testing.T) {
	script := `read line; echo "out:$line"; echo "err:$line" >&2`
	t.Run("create-start", func(t *testing.T) {
		h := newHarness(t)
		id := h.newID()
		b := h.newBundle(id, []string{"sh", "-c", script, id})
		in := tempFile(t, "in", "hello\n")
		out := tempFile(t, "out", "")
		errF := tempFile(t, "err", "")
		if code := h.runWithStdio(in, out, errF, "create", "--bundle", b.Dir, id); code != 0 {
			data, _ := os.ReadFile(errF.Name())
			t.Fatalf("create: exit %d: %s", code, data)
		}
		h.start(id)
		h.waitStatus(id, "stopped")
		h.mustRun("delete", id)
		if data, _ := os.ReadFile(out.Name()); string(data) != "out:hello\n" {
			t.Errorf("container stdout = %q, want %q", data, "out:hello\n")
		}
		if data, _ := os.ReadFile(errF.Name()); string(data) != "err:hello\n" {
			t.Errorf("container stderr = %q, want %q", data, "err:hello\n")
		}
	})
	t.Run("run", func(t *testing.T) {
		h := newHarness(t)
		id := h.newID()
		b := h.newBundle(id, []string{"sh", "-c", script, id})
		in := tempFile(t, "in", "world\n")
		out := tempFile(t, "out", "")
		errF := tempFile(t, "err", "")
		if code := h.runWithStdio(in, out, errF, "run", "--bundle", b.Dir, id); code != 0 {
			data, _ := os.ReadFile(errF.Name())
			t.Fatalf("run: exit %d: %s", code, data)
		}
		if data, _ := os.ReadFile(out.Name()); string(data) != "out:world\n" {
			t.Errorf("container stdout = %q, want %q", data, "out:world\n")
		}
		if data, _ := os.ReadFile(errF.Name()); string(data) != "err:world\n" {
			t.Errorf("container stderr = %q, want %q", data, "err:world\n")
		}
	})
}

// TestInitBecomesUserProcess: the pid that create reports (and writes to the
// pid file) is the user's process once started, as subreaping clients rely
// on, and it holds no descriptors beyond stdio.
func TestInitBecomesUserProcess(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	// The loop keeps the shell as the container's PID 1.
	b := h.newBundle(id, []string{"sh", "-c", "while :; do sleep 1; done", id})
	h.create(id, b)
	pid := h.state(id).Pid
	h.start(id)
	// start may return just before the init process calls execve.
	args := strings.Split(waitCmdline(t, pid, id), "\x00")
	if len(args) != 4 || args[0] != "sh" || args[3] != id {
		t.Errorf("init %d runs %q, want the container's process", pid, args)
	}
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatalf("list fds of init %d: %v", pid, err)
	}
	var fds []string
	for _, e := range entries {
		fds = append(fds, e.Name())
	}
	sort.Strings(fds)
	if strings.Join(fds, ",") != "0,1,2" {
		t.Errorf("container process holds fds %v, want only 0,1,2", fds)
	}
	h.mustRun("delete", "--force", id)
}

// TestKillAll: kill --all signals every process of the container.
func TestKillAll(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := "sleep 100000 & sleep 100000 & while :; do sleep 1; done"
	b := h.newBundle(id, []string{"sh", "-c", script, id})
	h.create(id, b)
	h.start(id)
	h.mustRun("kill", "--all", id, "KILL")
	h.waitStatus(id, "stopped")
	h.mustRun("delete", id)
}

// waitCmdline polls /proc/PID/cmdline until it contains marker (the process
// has exec'd) and returns it, NUL-separated without the final NUL.
func waitCmdline(t *testing.T, pid int, marker string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			t.Fatalf("read cmdline of %d: %v", pid, err)
		}
		cmdline := strings.TrimRight(string(raw), "\x00")
		if strings.Contains(cmdline, marker) {
			return cmdline
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs %q after %v, want it to exec a command with %q", pid, cmdline, waitTimeout, marker)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
