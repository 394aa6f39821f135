//go:build linux

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/bundle"
)

// These tests run where /sys/fs/cgroup is cgroup v2: inside the systemd + cgroup v2 test VM
// (scripts/test-vm.sh runs them there with the same bin/husk); on a v1 host they skip.

func requireV2(t *testing.T) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("needs a pure cgroup v2 host (run by scripts/test-vm.sh in the test VM)")
	}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func v2Resources(s *specs.Spec) {
	limit, swap, pids := int64(64<<20), int64(64<<20), int64(50)
	shares, quota, period := uint64(512), int64(50000), uint64(100000)
	s.Linux.Resources = &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: &limit, Swap: &swap},
		Pids:    &specs.LinuxPids{Limit: &pids},
		CPU:     &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period},
	}
}

// TestV2Lifecycle: a container on the unified hierarchy gets its cgroup and limits (v1 values converted
// as runc converts them), sees itself there, is updated, paused and resumed through cgroup.freeze, and
// delete removes the cgroup.
func TestV2Lifecycle(t *testing.T) {
	requireV2(t)
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", "cat /proc/self/cgroup; head -c 1 /dev/zero >/dev/null && echo devices-ok; exec sleep 1000"}, bundle.WithSpec(v2Resources))
	out := filepath.Join(b.Dir, "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(huskBinary, "--root", h.root, "run", "-d", "--bundle", b.Dir, id)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		t.Fatalf("run -d: %v", err)
	}
	defer h.run("delete", "--force", id)
	dir := filepath.Join(cgroupRoot, cgroupParent, id)
	for file, want := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "0", "pids.max": "50", "cpu.max": "50000 100000", "cpu.weight": "20",
	} {
		if got := readTrim(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	st := h.state(id)
	if procs := readTrim(t, filepath.Join(dir, "cgroup.procs")); !strings.Contains("\n"+procs+"\n", "\n"+itoa(st.Pid)+"\n") {
		t.Errorf("init %d not in %s/cgroup.procs: %q", st.Pid, dir, procs)
	}
	h.mustRun("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "70", id)
	if got := readTrim(t, filepath.Join(dir, "memory.max")); got != "134217728" {
		t.Errorf("after update memory.max = %q", got)
	}
	if got := readTrim(t, filepath.Join(dir, "pids.max")); got != "70" {
		t.Errorf("after update pids.max = %q", got)
	}
	h.mustRun("pause", id)
	if got := readTrim(t, filepath.Join(dir, "cgroup.freeze")); got != "1" || h.state(id).Status != "paused" {
		t.Errorf("paused: cgroup.freeze %q, status %q", got, h.state(id).Status)
	}
	h.mustRun("resume", id)
	if got := readTrim(t, filepath.Join(dir, "cgroup.freeze")); got != "0" || h.state(id).Status != "running" {
		t.Errorf("resumed: cgroup.freeze %q, status %q", got, h.state(id).Status)
	}
	h.mustRun("delete", "--force", id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there after delete: %v", dir, err)
	}
	text := readTrim(t, out)
	if !strings.Contains(text, "0::/"+cgroupParent+"/"+id) || !strings.Contains(text, "devices-ok") {
		t.Errorf("container saw %q", text)
	}
}

// TestV2Systemd: with --systemd-cgroup the container runs in a transient scope unit named after
// "slice:prefix:name", its limits are on the unit's cgroup, and delete stops the unit.
func TestV2Systemd(t *testing.T) {
	requireV2(t)
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		t.Skip("systemd is not running")
	}
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id), bundle.WithSpec(v2Resources), bundle.WithSpec(func(s *specs.Spec) {
		s.Linux.CgroupsPath = "system.slice:" + cgroupParent + ":" + id
	}))
	h.mustRun("--systemd-cgroup", "run", "-d", "--bundle", b.Dir, id)
	unit := cgroupParent + "-" + id + ".scope"
	defer h.run("--systemd-cgroup", "delete", "--force", id)
	dir := filepath.Join(cgroupRoot, "system.slice", unit)
	if got := readTrim(t, filepath.Join(dir, "memory.max")); got != "67108864" {
		t.Errorf("%s/memory.max = %q", dir, got)
	}
	if got := readTrim(t, filepath.Join(dir, "pids.max")); got != "50" {
		t.Errorf("%s/pids.max = %q", dir, got)
	}
	state, _ := exec.Command("systemctl", "show", "-p", "ActiveState", "--value", unit).Output()
	if strings.TrimSpace(string(state)) != "active" {
		t.Errorf("unit %s ActiveState %q", unit, state)
	}
	h.mustRun("--systemd-cgroup", "delete", "--force", id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("scope cgroup %s still there after delete", dir)
	}
	state, _ = exec.Command("systemctl", "show", "-p", "LoadState", "--value", unit).Output()
	if s := strings.TrimSpace(string(state)); s == "loaded" {
		t.Errorf("unit %s still loaded after delete", unit)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestV2RootlessDelegated: an unprivileged user whose cgroup v2 subtree is delegated to it (owned by
// it, controllers enabled) gets its container's cgroup and limits there; delete removes the cgroup.
func TestV2RootlessDelegated(t *testing.T) {
	requireV2(t)
	h := newHarness(t)
	id := h.newID()
	deleg := filepath.Join(cgroupRoot, cgroupParent+"-deleg-"+id)
	if err := os.Mkdir(deleg, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(deleg)
	// The user's own processes live in a leaf ("no internal processes"); containers are its siblings.
	self := filepath.Join(deleg, "self")
	if err := os.Mkdir(self, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(self)
	if err := os.WriteFile(filepath.Join(deleg, "cgroup.subtree_control"), []byte("+memory +pids"), 0); err != nil {
		t.Fatalf("enable controllers in the delegated subtree: %v", err)
	}
	for _, p := range []string{deleg, self, filepath.Join(deleg, "cgroup.procs"), filepath.Join(deleg, "cgroup.subtree_control"), filepath.Join(self, "cgroup.procs")} {
		if err := os.Chown(p, rootlessUID, rootlessUID); err != nil {
			t.Fatal(err)
		}
	}
	b, runtimeDir := rootlessBundle(t, h, id, []string{"sh", "-c", "exec sleep 1000"})
	b.Update(t, func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + filepath.Base(deleg) + "/" + id })
	if out, err := exec.Command("chown", "47147:47147", b.ConfigPath()).CombinedOutput(); err != nil {
		t.Fatalf("chown config: %v: %s", err, out)
	}
	fd, err := unix.Open(self, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	husk := rootlessHusk(b, runtimeDir, filepath.Join(runtimeDir, "out"), fd)
	if stderr, err := husk("run", "-d", id); err != nil {
		t.Fatalf("rootless run -d in a delegated subtree: %v: %s", err, stderr)
	} else if strings.Contains(stderr, "not applied") {
		t.Errorf("limits skipped although the subtree is delegated: %s", stderr)
	}
	defer husk("delete", "--force", id)
	dir := filepath.Join(deleg, id)
	if got := readTrim(t, filepath.Join(dir, "memory.max")); got != "67108864" {
		t.Errorf("%s/memory.max = %q, want the 64 MiB limit", dir, got)
	}
	if procs := readTrim(t, filepath.Join(dir, "cgroup.procs")); procs == "" {
		t.Errorf("no process in the container's delegated cgroup %s", dir)
	}
	if o, err := husk("delete", "--force", id); err != nil {
		t.Fatalf("rootless delete: %v: %s", err, o)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("delegated container cgroup %s left behind", dir)
	}
}
