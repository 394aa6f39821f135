package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// buildC compiles bench/<rel> into a temporary directory, or skips.
func buildC(t *testing.T, rel string, extra ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(rel), ".c"))
	args := append([]string{"-O2", "-Wall", "-Wextra", "-Werror", "-o", out}, extra...)
	args = append(args, filepath.Join(repoRoot(t), "bench", rel))
	if msg, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", rel, err, msg)
	}
	return out
}

func TestFloor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs busybox-static")
	}
	floor := buildC(t, "floor/floor.c")
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := buildRootfs(rootfs, "/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	// The floor mounts only inside the mount namespace it creates.
	if out, err := exec.Command(floor, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("floor /bin/true: %v\n%s", err, out)
	}
	out, err := exec.Command(floor, rootfs, "/bin/sh", "-c",
		"echo $$; grep CapEff /proc/self/status; test -e /proc/1/status && exit 7").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("floor sh: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 3 || lines[0] != "1" || lines[2] != "0000000020000420" {
		t.Errorf("in the floor: pid and caps = %q, want pid 1 and AUDIT_WRITE|KILL|NET_BIND_SERVICE", out)
	}
	out, err = exec.Command(floor, rootfs, "/nonexistent").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "execve") {
		t.Errorf("floor /nonexistent: %v %q", err, out)
	}
}

func TestRssWrap(t *testing.T) {
	wrap := buildC(t, "rsswrap/rsswrap.c")
	outFile := filepath.Join(t.TempDir(), "rss")
	if msg, err := exec.Command(wrap, outFile, "/bin/true").CombinedOutput(); err != nil {
		t.Fatalf("rsswrap true: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := strconv.Atoi(strings.TrimSpace(string(data))); err != nil || v <= 0 {
		t.Errorf("rsswrap wrote %q", data)
	}
	err = exec.Command(wrap, outFile, "/bin/sh", "-c", "exit 5").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Errorf("rsswrap exit status: %v, want 5", err)
	}
}
