package libcontainer

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
)

func TestSplitLateResources(t *testing.T) {
	i64 := ptr[int64]
	shares := uint64(512)
	full := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(1 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(1)},
		CPU:    &specs.LinuxCPU{Shares: &shares},
	}
	early, late := splitLateResources(full)
	if early.Memory != nil || early.Pids != nil || early.CPU != full.CPU {
		t.Errorf("early = %+v, want only cpu", early)
	}
	if late.Memory != full.Memory || late.Pids != full.Pids || late.CPU != nil {
		t.Errorf("late = %+v, want memory and pids", late)
	}
	if full.Memory == nil || full.Pids == nil {
		t.Error("splitLateResources modified its argument")
	}
	cpuOnly := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}
	if early, late := splitLateResources(cpuOnly); early != cpuOnly || late != nil {
		t.Errorf("cpu only: early %+v late %+v", early, late)
	}
	if early, late := splitLateResources(nil); early != nil || late != nil {
		t.Errorf("nil: early %+v late %+v", early, late)
	}

	for _, c := range []struct {
		mem  *specs.LinuxMemory
		want bool
	}{
		{nil, false},
		{&specs.LinuxMemory{}, false},
		{&specs.LinuxMemory{Limit: i64(-1)}, false},
		{&specs.LinuxMemory{Limit: i64(memoryLastBelow)}, false},
		{&specs.LinuxMemory{Limit: i64(memoryLastBelow - 1)}, true},
		{&specs.LinuxMemory{Limit: i64(1 << 30), Swap: i64(1 << 20)}, true},
	} {
		if got := smallMemoryLimit(&specs.LinuxResources{Memory: c.mem}); got != c.want {
			t.Errorf("smallMemoryLimit(%+v) = %v, want %v", c.mem, got, c.want)
		}
	}
}

// fakeManager has only paths (the other methods are not called).
type fakeManager struct {
	cgroups.Manager
	paths map[string]string
}

func (f fakeManager) Paths() map[string]string { return f.paths }

// fakeV1 is a cgroup v1 manager as far as selfJoinDirs can tell (it implements Splitter).
type fakeV1 struct {
	fakeManager
}

func (fakeV1) HasController(string) bool         { return true }
func (fakeV1) ApplyExcept(int, string) error     { return nil }
func (fakeV1) ApplyController(int, string) error { return nil }

func TestSelfJoinDirs(t *testing.T) {
	paths := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct/x", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/x",
		"memory": "/sys/fs/cgroup/memory/x", "pids": "/sys/fs/cgroup/pids/x",
	}
	v1 := fakeV1{fakeManager{paths: paths}}
	want := []string{"/sys/fs/cgroup/cpu,cpuacct/x", "/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/pids/x"}
	if got := selfJoinDirs(v1, false, ""); !reflect.DeepEqual(got, want) {
		t.Errorf("all: %q, want %q", got, want)
	}
	if got := selfJoinDirs(v1, false, "memory"); !reflect.DeepEqual(got, []string{want[0], want[2]}) {
		t.Errorf("except memory: %q", got)
	}
	if got := selfJoinDirs(v1, true, ""); got != nil {
		t.Errorf("rootless: %q, want nil (the parent moves the process)", got)
	}
	v2 := fakeManager{paths: map[string]string{"": "/sys/fs/cgroup/x"}}
	if got := selfJoinDirs(v2, false, ""); got != nil {
		t.Errorf("v2: %q, want nil (cloned into its cgroup)", got)
	}
	sub := &subCgroups{Manager: v1, dirs: []string{"/sys/fs/cgroup/pids/x/sub"}}
	if got := selfJoinDirs(sub, false, ""); !reflect.DeepEqual(got, sub.dirs) {
		t.Errorf("exec --cgroup: %q, want %q", got, sub.dirs)
	}
}
