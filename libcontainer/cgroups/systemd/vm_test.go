package systemd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests in this file need systemd on a cgroup v2 host (the test VM).

func needSystemd(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := checkHost(); err != nil {
		t.Skipf("no systemd on cgroup v2 here (%v); run scripts/test-vm.sh", err)
	}
}

func unitProp(t *testing.T, unit, iface, name string) any {
	t.Helper()
	c, err := connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var p *sd.Property
	if iface == "" {
		p, err = c.GetUnitProperty(unit, name)
	} else {
		p, err = c.GetUnitTypeProperty(unit, iface, name)
	}
	if err != nil {
		t.Fatalf("property %s of %s: %v", name, unit, err)
	}
	return p.Value.Value()
}

// startSleep starts a sleep that the test reaps at cleanup.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func newTestManager(t *testing.T, annotations map[string]string) *Manager {
	t.Helper()
	needSystemd(t)
	name := fmt.Sprintf("%s-%d", strings.ToLower(t.Name()), os.Getpid())
	m, err := NewManager("system.slice:husk-test:"+name, "", annotations, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Kill(unix.SIGKILL)
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup destroy: %v", err)
		}
		if _, err := os.Stat(m.Path()); err == nil {
			t.Errorf("cgroup %s left behind", m.Path())
		}
	})
	return m
}

func TestScopeLifecycle(t *testing.T) {
	m := newTestManager(t, map[string]string{
		"org.systemd.property.CollectMode":    "'inactive-or-failed'",
		"org.systemd.property.TimeoutStopSec": "7",
	})
	cmd := startSleep(t)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	unit := m.UnitName()
	if !strings.HasPrefix(unit, "husk-test-") || !strings.HasSuffix(unit, ".scope") {
		t.Errorf("unit name %q", unit)
	}
	if st := unitProp(t, unit, "", "ActiveState"); st != "active" {
		t.Errorf("ActiveState = %v", st)
	}
	if v := unitProp(t, unit, "Scope", "Delegate"); v != true {
		t.Errorf("Delegate = %v", v)
	}
	if v := unitProp(t, unit, "", "CollectMode"); v != "inactive-or-failed" {
		t.Errorf("CollectMode (annotation) = %v", v)
	}
	if v := unitProp(t, unit, "Scope", "TimeoutStopUSec"); v != uint64(7000000) {
		t.Errorf("TimeoutStopUSec (annotation, Sec converted) = %v", v)
	}
	if got := m.Path(); got != "/sys/fs/cgroup/system.slice/"+unit {
		t.Errorf("path = %s", got)
	}
	pids, err := m.Pids()
	if err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Errorf("Pids = %v, %v; want [%d]", pids, err, cmd.Process.Pid)
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "cgroup"))
	if err != nil || !strings.Contains(string(b), unit) {
		t.Errorf("/proc/pid/cgroup = %q, %v", b, err)
	}

	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(2048), Quota: i64(20000), Period: u64(100000)},
		Pids:    &specs.LinuxPids{Limit: i64(50)},
		Unified: map[string]string{"memory.high": "58720256"},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	d := m.Path()
	for file, want := range map[string]string{
		"memory.max": strconv.Itoa(64 << 20), "pids.max": "50", "memory.high": "58720256",
		"cpu.max": "20000 100000", "cpu.weight": "79",
	} {
		if !common.Exists(d, file) {
			t.Errorf("%s missing in %s", file, d)
			continue
		}
		if got, _ := common.ReadFile(d, file); strings.TrimSpace(got) != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	for prop, want := range map[string]any{
		"MemoryMax": uint64(64 << 20), "TasksMax": uint64(50), "CPUWeight": uint64(79),
		"CPUQuotaPerSecUSec": uint64(200000), "MemoryHigh": uint64(58720256), "DevicePolicy": "strict",
	} {
		if got := unitProp(t, unit, "Scope", prop); got != want {
			t.Errorf("unit %s = %v (%T), want %v", prop, got, got, want)
		}
	}
	// The device rules are enforced: /dev/null yes, /dev/zero no.
	fd, err := unix.Open(d, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	probe := exec.Command("/bin/sh", "-c", "echo x >/dev/null && echo null-ok; head -c1 /dev/zero >/dev/null && echo zero-ok")
	probe.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, _ := probe.CombinedOutput()
	unix.Close(fd)
	if !strings.Contains(string(out), "null-ok") || strings.Contains(string(out), "zero-ok") {
		t.Errorf("device rules in the scope: %q", out)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != common.Frozen {
		t.Errorf("FreezerState = %q", st)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stats(); err != nil {
		t.Errorf("Stats: %v", err)
	}

	// Load from the saved paths finds the same unit.
	l, err := LoadManager(m.Paths(), false)
	if err != nil || l.UnitName() != unit {
		t.Fatalf("LoadManager = %v, %v", l, err)
	}
	if err := l.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	c, err := connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	units, err := c.ListUnitsByNamesContext(context.Background(), []string{unit})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if u.LoadState == "loaded" {
			t.Errorf("unit still loaded after Destroy: %+v", u)
		}
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there: %v", d, err)
	}
}

func TestApplyWithoutPid(t *testing.T) {
	m := newTestManager(t, nil)
	// A scope cannot start empty: a clear error, and nothing created.
	err := m.Apply(0)
	if err == nil || !strings.Contains(err.Error(), "needs a process") {
		t.Errorf("Apply(0) = %v", err)
	}
	if _, serr := os.Stat(m.Path()); serr == nil {
		t.Errorf("failed Apply left %s", m.Path())
	}
}

func TestBadAnnotationAndPath(t *testing.T) {
	needSystemd(t)
	if _, err := NewManager("system.slice:x:y", "y", map[string]string{"org.systemd.property.X1": "1"}, false); err == nil {
		t.Error("bad property name accepted")
	}
	if _, err := NewManager("/not/systemd", "y", nil, false); err == nil || !strings.Contains(err.Error(), "slice:prefix:name") {
		t.Errorf("cgroupfs path with systemd: %v", err)
	}
	// A property systemd refuses fails Apply and leaves no unit behind.
	m := newTestManager(t, map[string]string{"org.systemd.property.NoSuchProperty": "1"})
	cmd := startSleep(t)
	err := m.Apply(cmd.Process.Pid)
	if err == nil {
		t.Fatal("unknown property accepted by systemd")
	}
	t.Logf("ok: %v", err)
}

func TestPidsLimitInScope(t *testing.T) {
	m := newTestManager(t, nil)
	cmd := exec.Command("/bin/sh", "-c", `read x; for i in 1 2 3 4 5 6 7 8; do sleep 1000 </dev/null >/dev/null 2>&1 & done; echo done`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(3)}}); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	_ = cmd.Wait()
	ev, err := common.ReadKeyValues(m.Path(), "pids.events")
	if err != nil {
		t.Fatal(err)
	}
	if ev["max"] == 0 {
		t.Error("pids.max in the scope did not stop the fork loop")
	}
}
