//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// TestLifecycle walks create -> created -> start -> running -> kill ->
// stopped -> delete, checking state and the pid file on the way.
func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	pidFile := filepath.Join(t.TempDir(), "init.pid")

	h.mustRun("create", "--bundle", b.Dir, "--pid-file", pidFile, id)
	st := h.state(id)
	if st.Status != "created" {
		t.Errorf("status after create = %q, want created", st.Status)
	}
	if st.ID != id || st.Bundle != b.Dir || st.Pid <= 0 {
		t.Errorf("state after create: id %q bundle %q pid %d", st.ID, st.Bundle, st.Pid)
	}
	if st.Rootfs != b.Rootfs {
		t.Errorf("state rootfs = %q, want %q", st.Rootfs, b.Rootfs)
	}
	if st.Created.IsZero() {
		t.Error("state created time is zero")
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid != st.Pid {
		t.Errorf("pid file holds %q, state pid is %d", data, st.Pid)
	}

	h.start(id)
	st = h.state(id)
	if st.Status != "running" {
		t.Errorf("status after start = %q, want running", st.Status)
	}
	if st.Pid != pid {
		t.Errorf("pid changed across start: %d -> %d", pid, st.Pid)
	}

	h.mustRun("kill", id, "KILL")
	st = h.waitStatus(id, "stopped")
	if st.Pid != 0 {
		t.Errorf("stopped container reports pid %d, want 0", st.Pid)
	}
	h.mustRun("delete", id)
	_, errOut, code := h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestRunExitCode checks that foreground `run` returns the container's exit
// code (128+N for death by signal N), passes stdout through and deletes the
// container afterwards.
func TestRunExitCode(t *testing.T) {
	// Without a pid namespace the shell is not an init process, so it can
	// signal itself to death.
	noPidNS := bundle.WithSpec(func(s *specs.Spec) {
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.PIDNamespace {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
	})
	cases := []struct {
		name   string
		script string
		code   int
	}{
		{"zero", "echo out-$0; exit 0", 0},
		{"exit42", "echo out-$0; exit 42", 42},
		{"sigterm", "echo out-$0; kill -TERM $$; sleep 5", 128 + 15},
		{"sigkill", "echo out-$0; kill -KILL $$; sleep 5", 128 + 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			b := h.newBundle(id, []string{"sh", "-c", c.script, id}, noPidNS)
			out, errOut, code := h.run("run", "--bundle", b.Dir, id)
			if code != c.code {
				t.Errorf("run exit code = %d, want %d (stderr %q)", code, c.code, errOut)
			}
			if strings.TrimSpace(out) != "out-"+id {
				t.Errorf("run stdout = %q, want %q", out, "out-"+id)
			}
			_, errOut, code = h.run("state", id)
			expectError(t, errOut, code, "container does not exist")
		})
	}
}

// TestRunKeep checks that `run --keep` leaves a stopped container behind.
func TestRunKeep(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", "exit 3", id})
	_, errOut, code := h.run("run", "--keep", "--bundle", b.Dir, id)
	if code != 3 {
		t.Errorf("run --keep exit code = %d, want 3 (stderr %q)", code, errOut)
	}
	if st := h.state(id); st.Status != "stopped" {
		t.Errorf("status after run --keep = %q, want stopped", st.Status)
	}
	h.mustRun("delete", id)
}

// TestRunDetached checks `run -d`: it returns at once with the container
// running, which then behaves like a started one.
func TestRunDetached(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	pidFile := filepath.Join(t.TempDir(), "pid")
	h.mustRun("run", "-d", "--pid-file", pidFile, "--bundle", b.Dir, id)
	st := h.state(id)
	if st.Status != "running" {
		t.Errorf("status after run -d = %q, want running", st.Status)
	}
	if data, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(st.Pid) {
		t.Errorf("pid file = %q (%v), want %d", data, err, st.Pid)
	}
	h.mustRun("kill", id, "9")
	h.waitStatus(id, "stopped")
	h.mustRun("delete", id)
}

// TestKillSignals sends signals by name, by SIG-name and by number.
func TestKillSignals(t *testing.T) {
	for _, sig := range []string{"KILL", "SIGKILL", "9", "TERM", "SIGTERM", "15"} {
		t.Run(sig, func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			// As PID 1 the shell ignores TERM unless it traps it.
			script := "trap 'exit 0' TERM; while :; do sleep 1; done"
			b := h.newBundle(id, []string{"sh", "-c", script, id})
			h.create(id, b)
			h.start(id)
			// The shell must have installed its trap before TERM arrives.
			waitSignalCaught(t, h.state(id).Pid, syscall.SIGTERM)
			h.mustRun("kill", id, sig)
			h.waitStatus(id, "stopped")
			h.mustRun("delete", id)
		})
	}
}

// waitSignalCaught polls /proc/PID/status until the process has a handler
// for sig (its SigCgt mask has the bit).
func waitSignalCaught(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatalf("read status of %d: %v", pid, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
				mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err == nil && mask&(1<<(uint(sig)-1)) != 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d installed no handler for %v within %v", pid, sig, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKillCreated kills a container that was created but never started.
func TestKillCreated(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.mustRun("kill", id, "KILL")
	h.waitStatus(id, "stopped")
	h.mustRun("delete", id)
}

// TestKillStopped: signalling a stopped container fails with the text the
// shim matches on.
func TestKillStopped(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.start(id)
	h.mustRun("kill", id, "9")
	h.waitStatus(id, "stopped")
	_, errOut, code := h.run("kill", id, "9")
	expectError(t, errOut, code, "container not running")
	h.mustRun("delete", id)
}

// TestDeleteRunning: plain delete refuses a running container, and
// delete --force kills and removes it.
func TestDeleteRunning(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.start(id)
	_, errOut, code := h.run("delete", id)
	if code != 1 || len(nonEmptyLines(errOut)) != 1 {
		t.Errorf("delete of a running container: exit %d, stderr %q; want exit 1 and one error line", code, errOut)
	}
	if st := h.state(id); st.Status != "running" {
		t.Errorf("status after refused delete = %q, want running", st.Status)
	}
	h.mustRun("delete", "--force", id)
	_, errOut, code = h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestDeleteForceCreated removes a created, never started container.
func TestDeleteForceCreated(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.mustRun("delete", "--force", id)
	_, errOut, code := h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestDeleteUnknown: delete --force of an unknown id succeeds (the shim
// relies on it), plain delete fails with "container does not exist".
func TestDeleteUnknown(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	out, errOut, code := runHusk(t, "delete", "--force", id)
	if code != 0 {
		t.Errorf("delete --force of unknown id: exit %d, stderr %q, want 0", code, errOut)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("delete --force of unknown id printed %q", out)
	}
	_, errOut, code = runHusk(t, "delete", id)
	expectError(t, errOut, code, "container does not exist")
	_, errOut, code = runHusk(t, "kill", id, "9")
	expectError(t, errOut, code, "container does not exist")
	_, errOut, code = runHusk(t, "start", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestDuplicateID: a second create with a live container's ID fails and
// leaves the first container untouched.
func TestDuplicateID(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	st := h.state(id)
	_, errOut, code := h.run("create", "--bundle", b.Dir, id)
	expectError(t, errOut, code, "container with given ID already exists")
	st2 := h.state(id)
	if st2.Status != "created" || st2.Pid != st.Pid {
		t.Errorf("first container changed: %+v -> %+v", st, st2)
	}
	h.mustRun("delete", "--force", id)
}

// TestConcurrentCreate races two creates of one ID: exactly one wins, the
// loser fails cleanly, and the winner is a normal container.
func TestConcurrentCreate(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	type result struct {
		stderr string
		code   int
		err    error
	}
	var (
		wg      sync.WaitGroup
		results [2]result
	)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errOut, code, err := h.invoke("--root", h.root, "create", "--bundle", b.Dir, id)
			results[i] = result{errOut, code, err}
		}(i)
	}
	wg.Wait()
	wins := 0
	for _, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.code == 0 {
			wins++
		} else {
			expectError(t, r.stderr, r.code, "already exists")
		}
	}
	if wins != 1 {
		t.Fatalf("%d of 2 concurrent creates succeeded, want exactly 1: %+v", wins, results)
	}
	if st := h.state(id); st.Status != "created" {
		t.Errorf("winner status = %q, want created", st.Status)
	}
	h.start(id)
	h.mustRun("delete", "--force", id)
}
