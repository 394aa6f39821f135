//go:build linux

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/specconv"
	"github.com/husk-runtime/husk/tests/bundle"
)

// rootlessUID is an unprivileged uid without a passwd entry; the test runs husk with its credentials.
const rootlessUID = 47147

// TestRootless runs husk as an unprivileged user with a `husk spec --rootless`-shaped config: the
// container's root is the user (a one-id user namespace map, setgroups denied), cgroup limits the user
// may not write are skipped with a warning instead of failing (as runc does), and exec, kill, state and
// delete work from the user's default root ($XDG_RUNTIME_DIR/husk).
// rootlessBundle makes a `husk spec --rootless`-shaped bundle owned by rootlessUID, with a 64 MiB
// memory limit, and a runtime directory for it.
func rootlessBundle(t *testing.T, h *harness, id string, args []string) (*bundle.Bundle, string) {
	limit := int64(64 << 20)
	b := h.newBundle(id, args, bundle.WithSpec(func(s *specs.Spec) {
		specconv.ToRootless(s)
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: rootlessUID, Size: 1}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: rootlessUID, Size: 1}}
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	}))
	// The user must own its bundle and reach it through the test's private directories.
	for _, d := range []string{filepath.Dir(b.Dir), b.Dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "-R", "47147:47147", b.Dir).CombinedOutput(); err != nil {
		t.Fatalf("chown bundle: %v: %s", err, out)
	}
	runtimeDir := t.TempDir()
	if err := os.Chown(runtimeDir, rootlessUID, rootlessUID); err != nil {
		t.Fatal(err)
	}
	return b, runtimeDir
}

// rootlessHusk runs husk as rootlessUID in the bundle directory; `run` writes the container's stdout
// to out. With cgroupFD >= 0 the command is born in that cgroup (a v2 delegated subtree).
func rootlessHusk(b *bundle.Bundle, runtimeDir, out string, cgroupFD int) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		cmd := exec.Command(huskBinary, args...)
		cmd.Dir = b.Dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=" + runtimeDir}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: rootlessUID, Gid: rootlessUID}}
		if cgroupFD >= 0 {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cgroupFD
		}
		if len(args) > 0 && args[0] == "run" {
			// Files, not pipes: the container inherits them and outlives the command.
			f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			defer f.Close()
			e, err := os.CreateTemp(runtimeDir, "stderr")
			if err != nil {
				return "", err
			}
			defer e.Close()
			cmd.Stdout, cmd.Stderr = f, e
			err = cmd.Run()
			stderr, _ := os.ReadFile(e.Name())
			return string(stderr), err
		}
		// stdout only: warnings (e.g. about cgroups the user may not write) go to stderr.
		var stderr strings.Builder
		cmd.Stderr = &stderr
		o, err := cmd.Output()
		if err != nil {
			return string(o) + stderr.String(), err
		}
		return string(o), nil
	}
}

func TestRootless(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b, runtimeDir := rootlessBundle(t, h, id, []string{"sh", "-c", "cat /proc/self/uid_map; id -u; exec sleep 1000"})
	out := filepath.Join(runtimeDir, "out")
	husk := rootlessHusk(b, runtimeDir, out, -1)
	stderr, err := husk("run", "-d", id)
	if err != nil {
		t.Fatalf("rootless run -d: %v: %s", err, stderr)
	}
	defer husk("delete", "--force", id)
	if !strings.Contains(stderr, "not applied") {
		t.Errorf("no warning about the skipped memory limit; stderr %q", stderr)
	}
	state, err := husk("state", id)
	if err != nil || !strings.Contains(state, `"status": "running"`) || !strings.Contains(state, `"owner": "#47147"`) {
		t.Fatalf("rootless state: %v: %s", err, state)
	}
	if _, err := os.Stat(filepath.Join(runtimeDir, "husk", id, "state.json")); err != nil {
		t.Errorf("state not under $XDG_RUNTIME_DIR/husk: %v", err)
	}
	if o, err := husk("exec", id, "id", "-u"); err != nil || strings.TrimSpace(o) != "0" {
		t.Errorf("rootless exec id -u: %v: %q", err, o)
	}
	if o, err := husk("kill", id, "KILL"); err != nil {
		t.Fatalf("rootless kill: %v: %s", err, o)
	}
	if o, err := husk("delete", "--force", id); err != nil {
		t.Fatalf("rootless delete: %v: %s", err, o)
	}
	if _, err := os.Stat(filepath.Join(runtimeDir, "husk", id)); !os.IsNotExist(err) {
		t.Errorf("rootless state directory left behind: %v", err)
	}
	got, _ := os.ReadFile(out)
	fields := strings.Fields(string(got))
	if len(fields) < 4 || fields[0] != "0" || fields[1] != "47147" || fields[2] != "1" || fields[3] != "0" {
		t.Errorf("inside: uid_map + id -u = %q, want \"0 47147 1\" and 0", got)
	}
}
