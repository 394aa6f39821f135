package v1

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	"golang.org/x/sys/unix"
)

// requireV1 skips unless the test runs as root on a cgroup v1 host.
func requireV1(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		t.Skip("needs a cgroup v1 host")
	}
}

// testBase returns a fresh absolute cgroups path "/husk-test-<rand>" and
// registers a cleanup that removes it from every hierarchy and checks that
// nothing is left.
func testBase(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	base := "/husk-test-" + hex.EncodeToString(b)
	hs, err := discover()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, h := range hs {
			dir := filepath.Join(h.mountpoint, base)
			if fs, err := common.ReadFile(dir, "freezer.state"); err == nil && fs != "THAWED" {
				_ = common.WriteFile(dir, "freezer.state", "THAWED")
			}
			if err := common.RemoveTree(dir, time.Now().Add(rmdirBudget)); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cleanup: %s still exists", dir)
			}
		}
	})
	return base
}

// newTestManager returns a manager for base+sub (created by Apply later).
func newTestManager(t *testing.T, path string) *Manager {
	t.Helper()
	m, err := NewManager(path, "unused", false)
	if err != nil {
		t.Fatalf("NewManager(%q): %v", path, err)
	}
	return m
}

// startSleep starts a sleeping child that is killed and reaped at cleanup.
// Its stdin is a pipe: writing a line makes the shell exec sleep, which
// charges fresh memory to whatever cgroup it is in by then.
type sleeper struct {
	cmd   *exec.Cmd
	stdin *os.File
}

func startSleep(t *testing.T) *sleeper {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "read x; exec sleep 1000")
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	s := &sleeper{cmd: cmd, stdin: w}
	t.Cleanup(func() {
		w.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return s
}

func (s *sleeper) pid() int { return s.cmd.Process.Pid }

// execSleep lets the shell exec sleep and waits until it did.
func (s *sleeper) execSleep(t *testing.T) {
	t.Helper()
	if _, err := s.stdin.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid()) + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "sleep" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("child did not exec sleep")
}

// readFile reads a cgroup file or fails the test.
func readFile(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := common.ReadFile(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// procCgroups returns /proc/PID/cgroup as controller-list -> path.
func procCgroups(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		for _, k := range strings.Split(parts[1], ",") {
			out[k] = parts[2]
		}
	}
	return out
}
