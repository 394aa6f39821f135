package procattr

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseRlimit(t *testing.T) {
	if len(rlimits) != 16 {
		t.Fatalf("%d rlimit names, want 16", len(rlimits))
	}
	if r, err := ParseRlimit("RLIMIT_NOFILE"); err != nil || r != 7 {
		t.Fatalf("ParseRlimit(RLIMIT_NOFILE) = %d, %v", r, err)
	}
	err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1}, {Type: "X"}})
	if err == nil || err.Error() != `unknown rlimit type "X"` {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestSchedAttrNames(t *testing.T) {
	a, err := SchedAttr(&specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 1, Deadline: 2, Period: 3,
		Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork, specs.SchedFlagUtilClampMax}})
	if err != nil || a.Policy != 6 || a.Flags != 0x41 || a.Runtime != 1 || a.Deadline != 2 || a.Period != 3 {
		t.Fatalf("SchedAttr = %+v, %v", a, err)
	}
	if len(schedPolicies) != 7 || len(schedFlags) != 7 {
		t.Fatal("policy or flag table incomplete")
	}
	if _, err := SchedAttr(&specs.Scheduler{Policy: "SCHED_FOO"}); err == nil || !strings.Contains(err.Error(), `"SCHED_FOO"`) {
		t.Fatalf("unknown policy: %v", err)
	}
	if _, err := SchedAttr(&specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"X"}}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if err := SetScheduler(nil); err != nil {
		t.Fatal(err)
	}
	if err := SetIOPriority(&specs.LinuxIOPriority{Class: "IOPRIO_CLASS_X"}); err == nil {
		t.Fatal("unknown I/O class accepted")
	}
	if err := SetIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}); err == nil {
		t.Fatal("I/O priority 8 accepted")
	}
	if err := SetPersonality(&specs.LinuxPersonality{Domain: "LINUX64"}); err == nil {
		t.Fatal("unknown personality accepted")
	}
}

func TestParseCPUList(t *testing.T) {
	s, err := ParseCPUList("0-3,7, 9")
	if err != nil || s.Count() != 6 || !s.IsSet(7) || !s.IsSet(9) || s.IsSet(4) {
		t.Fatalf("ParseCPUList = %v, %v", s, err)
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "1-", "0,,1", "5000"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) accepted", bad)
		}
	}
}

func TestSysctlKeys(t *testing.T) {
	for _, key := range []string{"../../etc/passwd", "..", "net..ipv4", "/etc/passwd", "net/../../x", "kernel.", ".kernel", "a/./b", ""} {
		err := WriteSysctls(map[string]string{key: "1"})
		if err == nil || !strings.Contains(err.Error(), `invalid sysctl key "`+key+`"`) {
			t.Errorf("key %q: %v", key, err)
		}
	}
	p, err := sysctlPath("net/ipv4/conf/eth0.100/forwarding")
	if err != nil || len(p) != 5 || p[3] != "eth0.100" {
		t.Fatalf("slash form = %q, %v", p, err)
	}
	p, err = sysctlPath("net.ipv4.ip_forward")
	if err != nil || strings.Join(p, "/") != "net/ipv4/ip_forward" {
		t.Fatalf("dot form = %q, %v", p, err)
	}
}

// A directory that merely looks like /proc is refused before any write.
func TestSysctlNonProcfs(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sys/kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "sys/kernel/hostname")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, walk := range []bool{false, true} {
		err := writeSysctls(dir, map[string]string{"kernel.hostname": "x"}, walk)
		if err == nil || !strings.Contains(err.Error(), "not on procfs") {
			t.Fatalf("non-procfs handle: %v", err)
		}
	}
	if data, _ := os.ReadFile(target); len(data) != 0 {
		t.Fatalf("wrote %q through a non-procfs handle", data)
	}
}

// Both resolution paths refuse symlinks: /proc/self is one, so reaching
// /proc/self/oom_score_adj through it must fail.
func TestSysctlNoSymlinks(t *testing.T) {
	proc, err := openProcfs("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(proc)
	for _, walk := range []bool{false, true} {
		err := writeSysctl(proc, []string{"self", "oom_score_adj"}, "0", walk)
		if err == nil {
			t.Fatalf("walk=%v: followed the /proc/self symlink", walk)
		}
	}
}

func TestLookPathErrors(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prog")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	noexec := filepath.Join(dir, "data")
	if err := os.WriteFile(noexec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/nonexistent", "PATH=" + dir + ":/usr/bin:/bin"}
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	cases := []string{"/x", "/etc/passwd", "/etc", "foo-no-such-prog", "prog", "sh", exe, noexec, "data", "", "..", "./x"}
	for _, name := range cases {
		want, wantErr := exec.LookPath(name)
		got, gotErr := LookPath(name, env)
		if got != want || errString(gotErr) != errString(wantErr) {
			t.Errorf("LookPath(%q) = %q, %v; exec.LookPath = %q, %v", name, got, gotErr, want, wantErr)
		}
	}
	_, err := LookPath("/x", nil)
	if err == nil || err.Error() != `exec: "/x": stat /x: no such file or directory` {
		t.Fatalf("/x: %v", err)
	}
	_, err = LookPath("foo", nil)
	if err == nil || err.Error() != `exec: "foo": executable file not found in $PATH` || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("foo: %v", err)
	}
	_, err = LookPath("/etc/passwd", nil)
	if err == nil || err.Error() != `exec: "/etc/passwd": permission denied` || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("/etc/passwd: %v", err)
	}
	// Relative PATH entries work as in a shell, always with a slash.
	t.Chdir(dir)
	if p, err := LookPath("prog", []string{"PATH=:/bin"}); err != nil || p != "./prog" {
		t.Fatalf("relative PATH: %q, %v", p, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
