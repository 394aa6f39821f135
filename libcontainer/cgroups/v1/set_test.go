package v1

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func p64(v int64) *int64    { return &v }
func pu64(v uint64) *uint64 { return &v }
func pu16(v uint16) *uint16 { return &v }
func pu32(v uint32) *uint32 { return &v }
func pbool(v bool) *bool    { return &v }

const mib = 1 << 20

// appliedManager returns a manager whose directories exist.
func appliedManager(t *testing.T) *Manager {
	t.Helper()
	m := newTestManager(t, testBase(t))
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	return m
}

func expect(t *testing.T, m *Manager, key, file, want string) {
	t.Helper()
	d, ok := m.Paths()[key]
	if !ok {
		t.Fatalf("no %s hierarchy", key)
	}
	if got := readFile(t, d, file); got != want {
		t.Errorf("%s = %q, want %q", file, got, want)
	}
}

func TestSetMemory(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	d := m.Paths()["memory"]
	if !common.Exists(d, memswLim) {
		t.Skip("no swap accounting")
	}
	err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{
		Limit: p64(64 * mib), Swap: p64(128 * mib), Reservation: p64(32 * mib),
		KernelTCP: p64(16 * mib), Kernel: p64(16 * mib), Swappiness: pu64(30), DisableOOMKiller: pbool(true),
	}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, m, "memory", memLimit, strconv.Itoa(64*mib))
	expect(t, m, "memory", memswLim, strconv.Itoa(128*mib))
	expect(t, m, "memory", "memory.soft_limit_in_bytes", strconv.Itoa(32*mib))
	expect(t, m, "memory", "memory.kmem.tcp.limit_in_bytes", strconv.Itoa(16*mib))
	expect(t, m, "memory", "memory.swappiness", "30")
	if !strings.Contains(readFile(t, d, "memory.oom_control"), "oom_kill_disable 1") {
		t.Error("oom killer not disabled")
	}

	// Raising above the current memsw needs memsw first; lowering needs
	// memory first.
	steps := [][2]int64{{256 * mib, 512 * mib}, {32 * mib, 48 * mib}}
	for _, s := range steps {
		if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(s[0]), Swap: p64(s[1])}}); err != nil {
			t.Fatalf("set %v: %v", s, err)
		}
		expect(t, m, "memory", memLimit, strconv.FormatInt(s[0], 10))
		expect(t, m, "memory", memswLim, strconv.FormatInt(s[1], 10))
	}

	// docker update sends zeros for everything it leaves alone.
	var upd specs.LinuxResources
	doc := `{"memory":{"limit":134217728,"reservation":0,"swap":268435456,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}`
	if err := json.Unmarshal([]byte(doc), &upd); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&upd); err != nil {
		t.Fatal(err)
	}
	expect(t, m, "memory", memLimit, "134217728")
	expect(t, m, "memory", memswLim, "268435456")
	expect(t, m, "memory", "memory.soft_limit_in_bytes", strconv.Itoa(32*mib))
	expect(t, m, "memory", "memory.swappiness", "30")

	// -1 without swap lifts both limits.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(-1)}}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(d)
	for _, f := range []string{memLimit, memswLim} {
		if got, want := readFile(t, d, f), readFile(t, root, f); got != want {
			t.Errorf("%s = %s, want unlimited %s", f, got, want)
		}
	}

	bad := []*specs.LinuxMemory{
		{Limit: p64(64 * mib), Swap: p64(32 * mib)},
		{Swappiness: pu64(101)},
	}
	for _, b := range bad {
		if err := m.Set(&specs.LinuxResources{Memory: b}); err == nil {
			t.Errorf("Set(%+v) succeeded", b)
		}
	}
}

func TestWriteErrorNamesFileAndValue(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	// Kernels >= 6 refuse to turn hierarchical accounting off.
	err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{UseHierarchy: pbool(false)}})
	if err == nil {
		t.Skip("kernel still allows use_hierarchy=0")
	}
	want := `write "0" to ` + filepath.Join(m.Paths()["memory"], "memory.use_hierarchy")
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestCheckBeforeUpdate(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	s := startSleep(t)
	if err := m.Apply(s.pid()); err != nil {
		t.Fatal(err)
	}
	s.execSleep(t) // the new image is charged to the container
	d := m.Paths()["memory"]
	var usage uint64
	for i := 0; i < 100 && usage == 0; i++ {
		usage, _ = common.ReadUint(d, "memory.usage_in_bytes")
		if usage == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if usage < 2*4096 {
		t.Skipf("memory usage %d too small to test", usage)
	}
	before := readFile(t, d, memLimit)
	err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(4096), CheckBeforeUpdate: pbool(true)}})
	if err == nil || !strings.Contains(err.Error(), "below current usage") {
		t.Fatalf("Set below usage: %v, want refusal", err)
	}
	expect(t, m, "memory", memLimit, before)
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(512 * mib), CheckBeforeUpdate: pbool(true)}}); err != nil {
		t.Fatal(err)
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Limit != 512*mib || st.Memory.Usage.Usage == 0 {
		t.Errorf("memory stats %+v", st.Memory.Usage)
	}
	if _, ok := m.Paths()["pids"]; ok && st.Pids.Current != 1 {
		t.Errorf("pids.current = %d, want 1", st.Pids.Current)
	}
}

func TestSetCPU(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{
		Shares: pu64(512), Period: pu64(50000), Quota: p64(25000), Burst: pu64(1000),
		RealtimePeriod: pu64(1000000), RealtimeRuntime: p64(10000), Cpus: "0", Mems: "0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, m, "cpu", "cpu.shares", "512")
	expect(t, m, "cpu", "cpu.cfs_period_us", "50000")
	expect(t, m, "cpu", "cpu.cfs_quota_us", "25000")
	expect(t, m, "cpu", "cpu.cfs_burst_us", "1000")
	expect(t, m, "cpu", "cpu.rt_period_us", "1000000")
	expect(t, m, "cpu", "cpu.rt_runtime_us", "10000")
	expect(t, m, "cpuset", "cpuset.cpus", "0")
	expect(t, m, "cpuset", "cpuset.mems", "0")

	// Zeros change nothing; -1 lifts the quota.
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: pu64(0), Period: pu64(0), Quota: p64(-1)}}); err != nil {
		t.Fatal(err)
	}
	expect(t, m, "cpu", "cpu.shares", "512")
	expect(t, m, "cpu", "cpu.cfs_period_us", "50000")
	expect(t, m, "cpu", "cpu.cfs_quota_us", "-1")

	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: pu64(1)}}); err == nil || !strings.Contains(err.Error(), "minimum") {
		t.Errorf("shares 1: %v, want a clamping error", err)
	}
	if common.Exists(m.Paths()["cpu"], "cpu.idle") {
		if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: p64(1)}}); err != nil {
			t.Fatal(err)
		}
		expect(t, m, "cpu", "cpu.idle", "1")
		if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: p64(0)}}); err != nil {
			t.Fatal(err)
		}
		expect(t, m, "cpu", "cpu.idle", "0")
	}
}

func TestSetPids(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	cases := []struct {
		limit *int64
		want  string
	}{{p64(10), "10"}, {nil, "10"}, {p64(0), "max"}, {p64(20), "20"}, {p64(-1), "max"}}
	for _, c := range cases {
		if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: c.limit}}); err != nil {
			t.Fatal(err)
		}
		expect(t, m, "pids", "pids.max", c.want)
	}
}

// firstBlockDevice returns "major:minor" of some block device.
func firstBlockDevice(t *testing.T) (int64, int64) {
	t.Helper()
	devs, _ := filepath.Glob("/sys/block/*/dev")
	for _, d := range devs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		maj, mnr, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		a, err1 := strconv.ParseInt(maj, 10, 64)
		c, err2 := strconv.ParseInt(mnr, 10, 64)
		if ok && err1 == nil && err2 == nil {
			return a, c
		}
	}
	t.Skip("no block device")
	return 0, 0
}

func TestSetBlkio(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	d := m.Paths()["blkio"]
	maj, mnr := firstBlockDevice(t)
	dev := specs.LinuxBlockIODevice{Major: maj, Minor: mnr}
	bio := &specs.LinuxBlockIO{
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1 * mib}},
		ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 2 * mib}},
		ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 100}},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 200}},
	}
	wf := weightFile(d, "weight")
	if wf != "" {
		bio.Weight = pu16(500)
	}
	if err := m.Set(&specs.LinuxResources{BlockIO: bio}); err != nil {
		t.Fatal(err)
	}
	prefix := strconv.FormatInt(maj, 10) + ":" + strconv.FormatInt(mnr, 10) + " "
	expect(t, m, "blkio", "blkio.throttle.read_bps_device", prefix+strconv.Itoa(mib))
	expect(t, m, "blkio", "blkio.throttle.write_bps_device", prefix+strconv.Itoa(2*mib))
	expect(t, m, "blkio", "blkio.throttle.read_iops_device", prefix+"100")
	expect(t, m, "blkio", "blkio.throttle.write_iops_device", prefix+"200")
	if wf != "" {
		expect(t, m, "blkio", wf, "500")
	}
	if !common.Exists(d, "blkio.leaf_weight") {
		err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: pu16(100)}})
		if err == nil {
			t.Error("leaf weight without blkio.leaf_weight succeeded")
		}
	}
}

func TestSetDevices(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	maj, null, zero := int64(1), int64(3), int64(5)
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &maj, Minor: &null, Access: "rwm"},
		{Allow: true, Type: "c", Major: &maj, Minor: &zero, Access: "rw"},
	}
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	expect(t, m, "devices", "devices.list", "c 1:3 rwm\nc 1:5 rw")
	// A partial rule for all types becomes one rule per type.
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "a", Access: "m"}}}); err != nil {
		t.Fatal(err)
	}
	expect(t, m, "devices", "devices.list", "c 1:3 rwm\nc 1:5 rw\nc *:* m\nb *:* m")
	for _, bad := range []specs.LinuxDeviceCgroup{{Type: "x"}, {Type: "c", Access: "rx"}, {Type: "c", Access: "rr"}} {
		if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{bad}}); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
	// Allow-all restores the default.
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "a"}}}); err != nil {
		t.Fatal(err)
	}
	expect(t, m, "devices", "devices.list", "a *:* rwm")
}

func TestSetMissingControllersAndUnified(t *testing.T) {
	requireV1(t)
	m := appliedManager(t)
	if err := m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}); !errors.Is(err, ErrUnifiedOnV1) {
		t.Errorf("unified: %v, want ErrUnifiedOnV1", err)
	}
	// Empty or zero requests never fail.
	empty := &specs.LinuxResources{
		Network:        &specs.LinuxNetwork{ClassID: pu32(0)},
		HugepageLimits: nil,
		Rdma:           map[string]specs.LinuxRdma{},
		Memory:         &specs.LinuxMemory{},
		CPU:            &specs.LinuxCPU{},
		BlockIO:        &specs.LinuxBlockIO{},
	}
	if err := m.Set(empty); err != nil {
		t.Errorf("empty resources: %v", err)
	}
	missing := map[string]*specs.LinuxResources{
		"hugetlb":  {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}}},
		"net_cls":  {Network: &specs.LinuxNetwork{ClassID: pu32(0x100001)}},
		"net_prio": {Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "lo", Priority: 1}}}},
		"rdma":     {Rdma: map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: pu32(2)}}},
	}
	for key, r := range missing {
		if _, ok := m.Paths()[key]; ok {
			continue // the host has it; nothing to check here
		}
		err := m.Set(r)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s missing: Set = %v, want an error naming it", key, err)
		}
	}
}
