package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func sh(script string, env ...string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Env: env}
}

var testState = &specs.State{Version: "1.0.2", ID: "c1", Status: specs.StateCreated, Pid: 42, Bundle: "/b"}

func TestStateOnStdinArgsEnv(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	h := sh(`cat > "$OUT"; printf '\n%s|%s|%s\n' "$0" "$1" "$(env | sort | tr '\n' ,)" >> "$OUT"`, "OUT="+out)
	h.Args = append(h.Args, "argv0-name", "first")
	if err := Run("prestart", []specs.Hook{h}, testState); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	js, rest, _ := strings.Cut(string(data), "\n")
	var got specs.State
	if err := json.Unmarshal([]byte(js), &got); err != nil || got.ID != "c1" || got.Pid != 42 || got.Bundle != "/b" {
		t.Fatalf("state on stdin = %q (%v)", js, err)
	}
	// dash adds PWD to the environment it shows; everything else must be ours.
	if !strings.HasPrefix(rest, "argv0-name|first|") || !strings.Contains(rest, "OUT="+out+",") ||
		strings.Contains(rest, "HOME=") || strings.Contains(rest, "PATH=/") {
		t.Fatalf("args/env seen by hook: %q", rest)
	}
}

func TestOrderAndStopOnFailure(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	env := "LOG=" + log
	err := Run("createRuntime", []specs.Hook{
		sh(`echo one >> "$LOG"`, env),
		sh(`echo two >> "$LOG"; echo "some output"; echo "line1
line2" >&2; exit 1`, env),
		sh(`echo three >> "$LOG"`, env),
	}, testState)
	want := "createRuntime hook #1 (/bin/sh): exit status 1, stdout: some output, stderr: line1 | line2"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	data, _ := os.ReadFile(log)
	if string(data) != "one\ntwo\n" {
		t.Fatalf("hooks ran: %q", data)
	}
}

// TestPostHooksContinueOnFailure: after a failing poststart or poststop hook
// the remaining hooks still run, and every failure is reported on one line.
func TestPostHooksContinueOnFailure(t *testing.T) {
	for _, kind := range []string{"poststart", "poststop"} {
		t.Run(kind, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "log")
			env := "LOG=" + log
			err := Run(kind, []specs.Hook{
				sh(`echo one >> "$LOG"; exit 2`, env),
				sh(`echo two >> "$LOG"`, env),
				sh(`echo three >> "$LOG"; exit 3`, env),
			}, testState)
			want := kind + " hook #0 (/bin/sh): exit status 2; " + kind + " hook #2 (/bin/sh): exit status 3"
			if err == nil || err.Error() != want {
				t.Fatalf("error = %v\nwant    %s", err, want)
			}
			if data, _ := os.ReadFile(log); string(data) != "one\ntwo\nthree\n" {
				t.Fatalf("hooks ran: %q", data)
			}
		})
	}
}

func TestSilentFailure(t *testing.T) {
	err := Run("poststart", []specs.Hook{sh(`kill -9 $$`)}, testState)
	if err == nil || err.Error() != "poststart hook #0 (/bin/sh): signal: killed" {
		t.Fatalf("error = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	one := 1
	h := sh(`echo started; exec sleep 1000`)
	h.Timeout = &one
	err := Run("createRuntime", []specs.Hook{h}, testState)
	want := "createRuntime hook #0 (/bin/sh): timeout after 1 seconds, stdout: started, stderr: "
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	zero := 0
	h.Timeout = &zero
	if err := Run("prestart", []specs.Hook{h}, testState); err == nil || !strings.Contains(err.Error(), "timeout must be positive") {
		t.Fatalf("zero timeout: %v", err)
	}
}

// A background child that keeps the hook's stdout open must not make Run
// wait for it.
func TestDaemonizingHook(t *testing.T) {
	dir := t.TempDir()
	pidf := filepath.Join(dir, "pid")
	err := Run("poststart", []specs.Hook{sh(`sleep 1000 & echo $! > "$P"`, "P="+pidf)}, testState)
	if data, rerr := os.ReadFile(pidf); rerr == nil {
		var pid int
		for _, c := range strings.TrimSpace(string(data)) {
			pid = pid*10 + int(c-'0')
		}
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestMissingHook(t *testing.T) {
	err := Run("prestart", []specs.Hook{{Path: "/nonexistent/hook"}}, testState)
	if err == nil || !strings.HasPrefix(err.Error(), "prestart hook #0 (/nonexistent/hook): start: ") ||
		!strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("error = %v", err)
	}
	if err := Run("prestart", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestNoFdLeak(t *testing.T) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0) // deliberately inheritable
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	dir := t.TempDir()
	out := filepath.Join(dir, "fds")
	// ls opens one directory fd of its own (3); nothing else may be there.
	h := sh(`ls /proc/self/fd > "$O"`, "O="+out)
	if err := Run("startContainer", []specs.Hook{h}, testState); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(data))
	for _, f := range got {
		if f != "0" && f != "1" && f != "2" && f != "3" {
			t.Fatalf("hook saw fds %v", got)
		}
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || fl&unix.FD_CLOEXEC != 0 {
		t.Fatalf("fd flags not restored: %#x, %v", fl, err)
	}
}
