package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The reaper makes its process a subreaper and reaps every child with
// wait4(-1), which would steal os/exec's children from the other tests: its
// test runs in a child process of its own.
const reaperChildEnv = "HUSKBENCH_REAPER_CHILD"

func TestReaper(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestReaperChild$", "-test.v")
	cmd.Env = append(os.Environ(), reaperChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReaperChild") {
		t.Fatalf("reaper child: %v\n%s", err, out)
	}
}

func TestReaperChild(t *testing.T) {
	if os.Getenv(reaperChildEnv) != "1" {
		t.Skip("runs only as TestReaper's child")
	}
	r, err := newReaper(filepath.Join(t.TempDir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.run([]string{"/bin/true"}, time.Minute)
	if err != nil || !res.ok() || res.Dur <= 0 {
		t.Fatalf("true: %+v %v", res, err)
	}
	argv := []string{"/bin/sh", "-c", "echo oops >&2; exit 3"}
	res, err = r.run(argv, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.ok() || res.Exit.Status.ExitStatus() != 3 || res.Stderr != "oops" {
		t.Errorf("sh exit 3: status %v stderr %q", res.Exit.Status, res.Stderr)
	}
	if e := res.err(argv); e == nil || !strings.Contains(e.Error(), "exit status 3: oops") {
		t.Errorf("err() = %v", e)
	}

	// An orphan: sh starts a background sleep, prints its pid and exits;
	// the sleep is reparented to this process and reaped here.
	pidFile := filepath.Join(t.TempDir(), "pid")
	res, err = r.run([]string{"/bin/sh", "-c", "sleep 0.2 & echo $! > " + pidFile}, time.Minute)
	if err != nil || !res.ok() {
		t.Fatalf("sh: %v %v", res.Exit.Status, err)
	}
	pid, err := readPidFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.waitPid(pid, time.Minute)
	if err != nil || !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		t.Errorf("orphan sleep: %v %v", e.Status, err)
	}

	// A command over its time limit is killed.
	res, err = r.run([]string{"/bin/sleep", "100"}, 50*time.Millisecond)
	if err == nil || !res.Exit.Status.Signaled() || res.Exit.Status.Signal() != syscall.SIGKILL {
		t.Errorf("sleep past its limit: status %v err %v", res.Exit.Status, err)
	}

	// Unclaimed exits are handed out by takeOrphans. The orphan outlives sh (a child that exits
	// first may be reaped by sh itself and never reach us).
	res, err = r.run([]string{"/bin/sh", "-c", "/bin/sleep 0.05 & echo $! > " + pidFile}, time.Minute)
	if err != nil || !res.ok() {
		t.Fatalf("sh: %v %v", res.Exit.Status, err)
	}
	if pid, err = readPidFile(pidFile); err != nil {
		t.Fatal(err)
	}
	found := false
	for deadline := time.Now().Add(time.Minute); !found && time.Now().Before(deadline); {
		for _, o := range r.takeOrphans() {
			found = found || o.Pid == pid
		}
		time.Sleep(time.Millisecond)
	}
	if !found {
		t.Errorf("orphan %d never handed out by takeOrphans", pid)
	}
}
