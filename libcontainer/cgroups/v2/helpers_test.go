package v2

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	"golang.org/x/sys/unix"
)

// needV2 skips unless the test runs as root on a pure cgroup v2 host (the
// test VM); the development hosts are cgroup v1.
func needV2(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(DefaultRoot, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("host is not cgroup v2 (run scripts/test-vm.sh)")
	}
}

// needController skips unless ctrl is enabled for m's cgroup.
func needController(t *testing.T, m *Manager, ctrl string) {
	t.Helper()
	c, err := m.controllers()
	if err != nil {
		t.Fatal(err)
	}
	if !c[ctrl] {
		t.Skipf("controller %s is not available here", ctrl)
	}
}

var nonAlnum = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// testManager returns a Manager for a fresh cgroup below the root, applied
// (created) without a pid, that is killed and destroyed at cleanup.
func testManager(t *testing.T) *Manager {
	t.Helper()
	needV2(t)
	name := fmt.Sprintf("/husk-test-%s-%d", nonAlnum.ReplaceAllString(t.Name(), "-"), os.Getpid())
	m, err := NewManager(name, "", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupManager(t, m) })
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	return m
}

func cleanupManager(t *testing.T, m *Manager) {
	if _, err := os.Stat(m.Path()); err != nil {
		return
	}
	_ = common.WriteFile(m.Path(), "cgroup.freeze", "0")
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Errorf("cleanup kill: %v", err)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("cleanup destroy: %v", err)
	}
	if _, err := os.Stat(m.Path()); err == nil {
		t.Errorf("cgroup %s left behind", m.Path())
	}
}

// startIn starts a command directly inside dir (clone3 CLONE_INTO_CGROUP)
// and reaps it at cleanup.
func startIn(t *testing.T, dir string, name string, args ...string) *exec.Cmd {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", name, dir, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// runIn runs a shell script inside dir and returns its combined output and
// exit error.
func runIn(t *testing.T, dir, script string) (string, error) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readFile(t *testing.T, dir, file string) string {
	t.Helper()
	v, err := common.ReadFile(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(v)
}

func wantFile(t *testing.T, dir, file, want string) {
	t.Helper()
	if got := readFile(t, dir, file); got != want {
		t.Errorf("%s = %q, want %q", filepath.Join(dir, file), got, want)
	}
}

func ptrI64(v int64) *int64   { return &v }
func ptrU64(v uint64) *uint64 { return &v }
func ptrU16(v uint16) *uint16 { return &v }
func ptrBool(v bool) *bool    { return &v }
func ptrU32(v uint32) *uint32 { return &v }
