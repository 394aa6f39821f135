package v2

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests in this file need a cgroup v2 host (the test VM) and skip
// elsewhere.

func TestSetReadBack(t *testing.T) {
	m := testManager(t)
	needController(t, m, "memory")
	needController(t, m, "pids")
	needController(t, m, "cpu")
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptrI64(64 << 20), Reservation: ptrI64(16 << 20), Swap: ptrI64(96 << 20)},
		CPU:     &specs.LinuxCPU{Shares: ptrU64(1024), Quota: ptrI64(50000), Period: ptrU64(100000), Idle: ptrI64(0)},
		Pids:    &specs.LinuxPids{Limit: ptrI64(42)},
		Unified: map[string]string{"memory.high": "50331648"},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	d := m.Path()
	wantFile(t, d, "memory.max", strconv.Itoa(64<<20))
	wantFile(t, d, "memory.low", strconv.Itoa(16<<20))
	if common.Exists(d, "memory.swap.max") {
		wantFile(t, d, "memory.swap.max", strconv.Itoa(32<<20))
	}
	wantFile(t, d, "memory.high", "50331648")
	wantFile(t, d, "cpu.weight", "39")
	wantFile(t, d, "cpu.max", "50000 100000")
	wantFile(t, d, "pids.max", "42")

	// docker update: zeros leave everything unchanged, new values apply.
	upd := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptrI64(0), Reservation: ptrI64(0), Swap: ptrI64(0), Kernel: ptrI64(0)},
		CPU:     &specs.LinuxCPU{Shares: ptrU64(0), Quota: ptrI64(0), Period: ptrU64(0)},
		BlockIO: &specs.LinuxBlockIO{Weight: ptrU16(0)},
	}
	if err := m.Set(upd); err != nil {
		t.Fatal(err)
	}
	wantFile(t, d, "memory.max", strconv.Itoa(64<<20))
	wantFile(t, d, "cpu.max", "50000 100000")
	wantFile(t, d, "cpu.weight", "39")
	// A new period alone keeps the quota; quota -1 lifts it.
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptrU64(200000)}}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, d, "cpu.max", "50000 200000")
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptrI64(-1)}}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, d, "cpu.max", "max 200000")
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptrI64(-1)}, Pids: &specs.LinuxPids{Limit: ptrI64(-1)}}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, d, "memory.max", "max")
	wantFile(t, d, "pids.max", "max")
	if common.Exists(d, "memory.swap.max") {
		wantFile(t, d, "memory.swap.max", "max")
	}
	if common.Exists(d, "cpu.max.burst") {
		if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptrI64(50000), Burst: ptrU64(10000)}}); err != nil {
			t.Fatal(err)
		}
		wantFile(t, d, "cpu.max.burst", "10000")
	}
}

func TestSetIO(t *testing.T) {
	m := testManager(t)
	needController(t, m, "io")
	d := m.Path()
	var st unix.Stat_t
	if err := unix.Stat("/dev/ubda", &st); err != nil {
		if err := unix.Stat("/dev/vda", &st); err != nil {
			t.Skip("no known block device")
		}
	}
	maj, mnr := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: mnr}, Rate: 1048576}},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: mnr}, Rate: 100}},
	}}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(maj, 10) + ":" + strconv.FormatInt(mnr, 10) + " rbps=1048576 wbps=max riops=max wiops=100"
	wantFile(t, d, "io.max", want)
	if common.Exists(d, "io.weight") || common.Exists(d, "io.bfq.weight") {
		if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptrU16(500)}}); err != nil {
			t.Fatal(err)
		}
		if common.Exists(d, "io.bfq.weight") {
			wantFile(t, d, "io.bfq.weight", "default 500")
		} else {
			wantFile(t, d, "io.weight", "default 4950")
		}
	}
	if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptrU16(5)}}); err == nil {
		t.Error("weight 5 accepted")
	}
}

func TestSetErrors(t *testing.T) {
	m := testManager(t)
	bad := []*specs.LinuxResources{
		{Unified: map[string]string{"nosuch.knob": "1"}},
		{Unified: map[string]string{"memory.nosuchfile": "1"}},
		{Unified: map[string]string{"cgroup.procs": "1"}},
		{Unified: map[string]string{"../../x.y": "1"}},
		{CPU: &specs.LinuxCPU{RealtimeRuntime: ptrI64(1000)}},
		{Network: &specs.LinuxNetwork{ClassID: ptrU32(7)}},
		{Devices: []specs.LinuxDeviceCgroup{{Type: "z"}}},
		{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../x", Limit: 1}}},
	}
	c, _ := m.controllers()
	if !c["cpuset"] {
		bad = append(bad, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}},
			&specs.LinuxResources{Unified: map[string]string{"cpuset.cpus": "0"}})
	} else {
		bad = append(bad, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-9999"}})
	}
	if c["memory"] {
		bad = append(bad, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptrI64(100), Swap: ptrI64(50)}})
	}
	for _, r := range bad {
		err := m.Set(r)
		if err == nil {
			t.Errorf("Set(%+v) succeeded", *r)
			continue
		}
		t.Logf("ok: %v", err)
	}
}

func TestCheckBeforeUpdate(t *testing.T) {
	m := testManager(t)
	needController(t, m, "memory")
	startIn(t, m.Path(), "sleep", "1000")
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptrI64(4096), CheckBeforeUpdate: ptrBool(true)}}
	err := m.Set(r)
	if err == nil || !strings.Contains(err.Error(), "below current usage") {
		t.Errorf("limit below usage: %v", err)
	}
	wantFile(t, m.Path(), "memory.max", "max")
}

func TestPidsLimitEffect(t *testing.T) {
	m := testManager(t)
	needController(t, m, "pids")
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptrI64(4)}}); err != nil {
		t.Fatal(err)
	}
	// The background sleeps must not hold the output pipe open.
	out, _ := runIn(t, m.Path(), `for i in 1 2 3 4 5 6 7 8; do sleep 1000 </dev/null >/dev/null 2>&1 & done; echo started`)
	if cur := readFile(t, m.Path(), "pids.current"); cur != "3" && cur != "4" {
		t.Errorf("pids.current = %s with pids.max 4", cur)
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("fork loop output: %q", out)
	ev, err := common.ReadKeyValues(m.Path(), "pids.events")
	if err != nil {
		t.Fatal(err)
	}
	if ev["max"] == 0 {
		t.Errorf("pids.events max = 0: the fork loop was never stopped (output %q)", out)
	}
}

func TestFreezeThaw(t *testing.T) {
	m := testManager(t)
	cmd := startIn(t, m.Path(), "sleep", "1000")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st, err := m.FreezerState(); err != nil || st != common.Frozen {
		t.Errorf("FreezerState = %q, %v", st, err)
	}
	if f, err := eventsFrozen(m.Path()); err != nil || !f {
		t.Errorf("cgroup.events frozen = %v, %v", f, err)
	}
	// A frozen task is not runnable.
	if st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "stat")); err == nil {
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "R" {
			t.Errorf("frozen task is running: %s", st)
		}
	}
	// Kill with a non-KILL signal keeps a paused container paused.
	if err := m.Kill(unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != common.Frozen {
		t.Errorf("after Kill(SIGCONT) state = %q", st)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if st, err := m.FreezerState(); err != nil || st != common.Thawed {
		t.Errorf("FreezerState = %q, %v", st, err)
	}
}

func TestKillPidsDestroy(t *testing.T) {
	m := testManager(t)
	a := startIn(t, m.Path(), "sleep", "1000")
	sub := filepath.Join(m.Path(), "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	b := startIn(t, sub, "sleep", "1000")
	pids, err := m.Pids()
	if err != nil || len(pids) != 2 {
		t.Fatalf("Pids = %v, %v", pids, err)
	}
	if err := m.Destroy(); err == nil {
		t.Error("Destroy of a cgroup with live tasks succeeded")
	}
	if err := m.Kill(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*os.Process{a.Process, b.Process} {
		st, err := c.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if ws := st.Sys().(interface{ Signal() unix.Signal }); ws.Signal() != unix.SIGTERM {
			t.Errorf("pid %d: %v", c.Pid, st)
		}
	}
	startIn(t, sub, "sleep", "1000")
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Path()); !os.IsNotExist(err) {
		t.Errorf("cgroup still there: %v", err)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestApplyFailureLeavesNothing(t *testing.T) {
	needV2(t)
	m, err := NewManager("/husk-test-applyfail/a/b", "", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = common.RemoveTree("/sys/fs/cgroup/husk-test-applyfail", time.Now().Add(time.Second)) })
	if err := m.Apply(1 << 30); err == nil {
		t.Fatal("Apply of a nonexistent pid succeeded")
	}
	if _, err := os.Stat("/sys/fs/cgroup/husk-test-applyfail"); !os.IsNotExist(err) {
		t.Errorf("failed Apply left cgroups behind: %v", err)
	}
}

func TestNoInternalProcesses(t *testing.T) {
	parent := testManager(t)
	needController(t, parent, "memory")
	startIn(t, parent.Path(), "sleep", "1000")
	child, err := NewFromDir(filepath.Join(parent.Path(), "child"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Apply(0); err != nil {
		t.Fatal(err)
	}
	err = child.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptrI64(1 << 30)}})
	if err == nil || !strings.Contains(err.Error(), "memory cgroup controller") {
		t.Errorf("memory limit below a cgroup with processes: %v", err)
	}
	if err := common.WriteFile(parent.Path(), "cgroup.subtree_control", "+memory"); err == nil {
		t.Error("enabling controllers in a cgroup with processes succeeded")
	}
}

func TestStatsAndOOM(t *testing.T) {
	m := testManager(t)
	needController(t, m, "memory")
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptrI64(16 << 20), Swap: ptrI64(16 << 20)}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	ch, err := m.NotifyOOM(stop)
	if err != nil {
		t.Fatal(err)
	}
	// A shell doubling a string grows until the OOM killer stops it.
	out, err := runIn(t, m.Path(), `x=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; while :; do x=$x$x; done`)
	if err == nil {
		t.Fatalf("memory hog exited cleanly: %q", out)
	}
	if n, ok := <-ch; !ok || n == 0 {
		t.Errorf("NotifyOOM: %d, %v", n, ok)
	}
	n, err := m.OOMKillCount()
	if err != nil || n == 0 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.OOMKills == 0 || st.Memory.Usage.Limit != 16<<20 || st.Memory.Usage.Failcnt == 0 {
		t.Errorf("memory stats: %+v", st.Memory.Usage)
	}
	if st.CPU.UsageTotal == 0 {
		t.Errorf("cpu usage is zero: %+v", st.CPU)
	}
}

func TestDevicesEffect(t *testing.T) {
	m := testManager(t)
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev(true, "c", 1, 3, "rw"), // /dev/null
	}
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		if strings.Contains(err.Error(), "invalid argument") || strings.Contains(err.Error(), "not implemented") {
			t.Skipf("no cgroup device programs here: %v", err)
		}
		t.Fatal(err)
	}
	out, err := runIn(t, m.Path(), `echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null && echo zero-ok`)
	if !strings.Contains(out, "null-ok") || strings.Contains(out, "zero-ok") {
		t.Errorf("deny-all + allow /dev/null: output %q, %v", out, err)
	}
	// The update replaces the program rather than stacking another one.
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}); err != nil {
		t.Fatal(err)
	}
	out, err = runIn(t, m.Path(), `head -c1 /dev/zero >/dev/null && echo zero-ok`)
	if !strings.Contains(out, "zero-ok") {
		t.Errorf("allow all: output %q, %v", out, err)
	}
	fd, err := unix.Open(m.Path(), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if ids, err := queryPrograms(fd); err != nil || len(ids) != 1 {
		t.Errorf("attached programs: %v, %v", ids, err)
	}
	// Deny exception under an allow default: m denied, rw allowed.
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}, dev(false, "c", 1, 5, "r")}}); err != nil {
		t.Fatal(err)
	}
	out, _ = runIn(t, m.Path(), `head -c1 /dev/zero >/dev/null && echo zero-ok; echo x > /dev/null && echo null-ok`)
	if strings.Contains(out, "zero-ok") || !strings.Contains(out, "null-ok") {
		t.Errorf("deny c 1:5 r: output %q", out)
	}
}
