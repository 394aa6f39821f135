package systemd

import (
	"bytes"
	"errors"
	"math"
	"testing"

	sd "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseCgroupsPath(t *testing.T) {
	good := []struct {
		in, id, slice, name, path string
	}{
		{"system.slice:docker:abc", "x", "system.slice", "docker-abc.scope", "/system.slice/docker-abc.scope"},
		{"", "ctr", "system.slice", "husk-ctr.scope", "/system.slice/husk-ctr.scope"},
		{":crio:abc", "x", "system.slice", "crio-abc.scope", "/system.slice/crio-abc.scope"},
		{"machine-a.slice::abc", "x", "machine-a.slice", "abc.scope", "/machine.slice/machine-a.slice/abc.scope"},
		{"-.slice:p:n", "x", "-.slice", "p-n.scope", "/p-n.scope"},
		{"system.slice:p:kube-pod.slice", "x", "system.slice", "kube-pod.slice", "/kube.slice/kube-pod.slice"},
	}
	for _, c := range good {
		u, err := ParseCgroupsPath(c.in, c.id)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if u.Slice != c.slice || u.Name != c.name || u.Path != c.path {
			t.Errorf("%q = %+v, want %s %s %s", c.in, u, c.slice, c.name, c.path)
		}
	}
	for _, bad := range []string{"/a/b", "a:b", "a:b:c:d", "system.slice:p:", "nota-slice:p:n", "system.slice:p:a/b", "a--b.slice:p:n", "system.slice:../x:n"} {
		if u, err := ParseCgroupsPath(bad, "x"); err == nil {
			t.Errorf("%q accepted: %+v", bad, u)
		}
	}
}

func TestExpandSlice(t *testing.T) {
	for in, want := range map[string]string{
		"-.slice": "/", "system.slice": "/system.slice", "a-b-c.slice": "/a.slice/a-b.slice/a-b-c.slice",
	} {
		if got, err := ExpandSlice(in); err != nil || got != want {
			t.Errorf("ExpandSlice(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", ".slice", "a", "-a.slice", "a-.slice", "a/b.slice", "a--b.slice"} {
		if _, err := ExpandSlice(bad); err == nil {
			t.Errorf("ExpandSlice(%q) accepted", bad)
		}
	}
}

func TestUnitFromDir(t *testing.T) {
	u, err := unitFromDir("/sys/fs/cgroup", "/sys/fs/cgroup/system.slice/husk-x.scope")
	if err != nil || u.Name != "husk-x.scope" || u.Slice != "system.slice" {
		t.Errorf("unitFromDir = %+v, %v", u, err)
	}
	u, err = unitFromDir("/sys/fs/cgroup", "/sys/fs/cgroup/x.scope")
	if err != nil || u.Slice != "-.slice" {
		t.Errorf("unitFromDir(root scope) = %+v, %v", u, err)
	}
	for _, bad := range []string{"/sys/fs/cgroup/a/b", "/etc/x.scope", "/sys/fs/cgroup"} {
		if _, err := unitFromDir("/sys/fs/cgroup", bad); err == nil {
			t.Errorf("unitFromDir(%q) accepted", bad)
		}
	}
}

func propMap(props []sd.Property) map[string]any {
	out := make(map[string]any)
	for _, p := range props {
		out[p.Name] = p.Value.Value()
	}
	return out
}

func TestPropertiesFromAnnotations(t *testing.T) {
	props, err := PropertiesFromAnnotations(map[string]string{
		"org.systemd.property.TimeoutStopSec":     "30",
		"org.systemd.property.CollectMode":        "'inactive-or-failed'",
		"org.systemd.property.RuntimeMaxSec":      "1.5",
		"org.systemd.property.CPUQuotaPerSecUSec": "uint64 300000",
		"unrelated": "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := propMap(props)
	if got["TimeoutStopUSec"] != uint64(30000000) || got["RuntimeMaxUSec"] != uint64(1500000) ||
		got["CollectMode"] != "inactive-or-failed" || got["CPUQuotaPerSecUSec"] != uint64(300000) || len(got) != 4 {
		t.Errorf("properties = %v", got)
	}
	for _, bad := range []map[string]string{
		{"org.systemd.property.Ab": "1"},
		{"org.systemd.property.Foo-Bar": "1"},
		{"org.systemd.property.Foo": "'unterminated"},
		{"org.systemd.property.TimeoutStopSec": "'text'"},
		{"org.systemd.property.TimeoutStopSec": "-1"},
	} {
		if _, err := PropertiesFromAnnotations(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }

func TestResourceProperties(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(150 << 20), Reservation: i64(-1)},
		CPU:     &specs.LinuxCPU{Shares: u64(1024), Quota: i64(12345), Period: u64(100000), Cpus: "0-2,9"},
		Pids:    &specs.LinuxPids{Limit: i64(-1)},
		Unified: map[string]string{"memory.high": "max", "cpu.weight": "77", "io.max": "x"},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}},
	}
	props, err := ResourceProperties(r, 252)
	if err != nil {
		t.Fatal(err)
	}
	got := propMap(props)
	checks := map[string]any{
		"MemoryMax":          uint64(100 << 20),
		"MemorySwapMax":      uint64(50 << 20),
		"MemoryLow":          uint64(math.MaxUint64),
		"CPUQuotaPerSecUSec": uint64(130000),
		"CPUQuotaPeriodUSec": uint64(100000),
		"TasksMax":           uint64(math.MaxUint64),
		"MemoryHigh":         uint64(math.MaxUint64),
		"CPUWeight":          uint64(77), // unified comes last and wins
		"DevicePolicy":       "strict",
	}
	for k, want := range checks {
		if got[k] != want {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], want)
		}
	}
	if b, _ := got["AllowedCPUs"].([]byte); !bytes.Equal(b, []byte{0x07, 0x02}) {
		t.Errorf("AllowedCPUs = %v", got["AllowedCPUs"])
	}
	if da, ok := got["DeviceAllow"].([]deviceAllow); !ok || len(da) != 1 || da[0] != (deviceAllow{"/dev/char/1:3", "rw"}) {
		t.Errorf("DeviceAllow = %#v", got["DeviceAllow"])
	}
	// Zeros (docker update) produce no properties at all.
	zero := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(0), Swap: i64(0), Reservation: i64(0)},
		CPU:    &specs.LinuxCPU{Shares: u64(0), Quota: i64(0), Period: u64(0)},
	}
	if props, err := ResourceProperties(zero, 252); err != nil || len(props) != 0 {
		t.Errorf("zeros: %v, %v", props, err)
	}
	// Old systemd: no period or AllowedCPUs properties.
	old, _ := ResourceProperties(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(50000), Cpus: "1"}}, 239)
	if g := propMap(old); len(g) != 1 || g["CPUQuotaPerSecUSec"] != uint64(1000000) {
		t.Errorf("old systemd: %v", g)
	}
	allowAll, _ := ResourceProperties(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}, 252)
	if g := propMap(allowAll); g["DevicePolicy"] != "auto" {
		t.Errorf("allow all: %v", g)
	}
	if _, err := ResourceProperties(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}}, 252); err == nil {
		t.Error("swap below limit accepted")
	}
	if _, err := ResourceProperties(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "3-1"}}, 252); err == nil {
		t.Error("backwards cpuset accepted")
	}
}

func TestNoSystemd(t *testing.T) {
	if IsRunning() {
		t.Skip("systemd runs here")
	}
	if _, err := NewManager("system.slice:x:y", "y", nil, false); !errors.Is(err, ErrNotRunning) {
		t.Errorf("NewManager without systemd: %v", err)
	}
	if ErrNotRunning.Error() != "systemd not running on this host, cannot use systemd cgroups manager" {
		t.Errorf("error text changed: %q", ErrNotRunning)
	}
}
