//go:build linux

package integration

import (
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/bundle"
)

// huskTimerSlack is the timer slack husk's own processes run with (nsenter.c).
const huskTimerSlack = 500000

// withTimerSlack runs fn with the calling thread's timer slack set to ns: a runtime started by fn (os/exec
// forks on the calling thread) inherits it, as it would inherit its caller's.
func withTimerSlack(t *testing.T, ns uint64, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(ns), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	fn()
}

// TestTimerSlack: the container's init runs with husk's coarse timer slack until it execs the
// container's process, which has the caller's, as do the hooks husk runs; a caller whose slack is
// already coarser keeps it everywhere.
func TestTimerSlack(t *testing.T) {
	for _, caller := range []uint64{123456, 3000000} {
		t.Run(strconv.FormatUint(caller, 10), func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			out := filepath.Join(t.TempDir(), "hook")
			b := h.newBundle(id, sleeper(id), bundle.WithSpec(func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{
					Path: "/bin/sh", Args: []string{"sh", "-c", "cat /proc/self/timerslack_ns > " + out},
				}}}
			}))
			withTimerSlack(t, caller, func() { h.create(id, b) })
			t.Cleanup(func() { h.run("delete", "--force", id) })
			want := strconv.FormatUint(caller, 10)
			if got := readTrim(t, out); got != want {
				t.Errorf("createRuntime hook: timer slack %s, want the caller's %s", got, want)
			}
			pid := strconv.Itoa(h.state(id).Pid)
			wantInit := strconv.FormatUint(max(caller, huskTimerSlack), 10)
			if got := readTrim(t, "/proc/"+pid+"/timerslack_ns"); got != wantInit {
				t.Errorf("init before start: timer slack %s, want %s", got, wantInit)
			}
			withTimerSlack(t, caller, func() { h.start(id) })
			h.waitStatus(id, "running")
			// The process has exec'd once start returns.
			if got := readTrim(t, "/proc/"+pid+"/timerslack_ns"); got != want {
				t.Errorf("container process: timer slack %s, want the caller's %s", got, want)
			}
		})
	}
}

// TestExecTimerSlack: an exec'd process has the caller's timer slack, not husk's (run again under
// HUSK_EXEC_INIT=go by `make integration`).
func TestExecTimerSlack(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h)
	var out, errOut string
	var code int
	withTimerSlack(t, 123456, func() { out, errOut, code = h.run("exec", id, "cat", "/proc/self/timerslack_ns") })
	if code != 0 {
		t.Fatalf("exec: exit %d: %s", code, errOut)
	}
	if got := strings.TrimSpace(out); got != "123456" {
		t.Errorf("exec'd process: timer slack %s, want the caller's 123456", got)
	}
}
