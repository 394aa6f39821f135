package libcontainer

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

// TestUpdateDeltaDockerZeros checks that docker's zeros mean "unchanged".
func TestUpdateDeltaDockerZeros(t *testing.T) {
	var r specs.LinuxResources
	in := `{"memory":{"limit":134217728,"reservation":0,"swap":268435456,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0},"pids":{"limit":0}}`
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	d := UpdateDelta(&r)
	want := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(134217728)), Swap: ptr(int64(268435456))}}
	if !reflect.DeepEqual(d, want) {
		got, _ := json.Marshal(d)
		t.Errorf("delta = %s", got)
	}
}

func TestUpdateDeltaNothing(t *testing.T) {
	for _, r := range []*specs.LinuxResources{
		nil,
		{},
		{Memory: &specs.LinuxMemory{Limit: ptr(int64(0)), CheckBeforeUpdate: ptr(true)}, CPU: &specs.LinuxCPU{Shares: ptr(uint64(0))}},
		{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}},
		{Pids: &specs.LinuxPids{Limit: ptr(int64(0))}, BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(0))}},
	} {
		if d := UpdateDelta(r); d != nil {
			got, _ := json.Marshal(d)
			t.Errorf("UpdateDelta(%+v) = %s, want nil", r, got)
		}
	}
}

func TestUpdateDeltaKeepsRealValues(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptr(int64(-1)), Swappiness: ptr(uint64(0)), CheckBeforeUpdate: ptr(true)},
		CPU:     &specs.LinuxCPU{Burst: ptr(uint64(0)), Cpus: "0-1", Idle: ptr(int64(0))},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(-1))},
		Network: &specs.LinuxNetwork{ClassID: ptr(uint32(0))},
	}
	d := UpdateDelta(r)
	if d == nil || d.Memory == nil || *d.Memory.Limit != -1 || *d.Memory.Swappiness != 0 || !*d.Memory.CheckBeforeUpdate {
		t.Fatalf("memory delta wrong: %+v", d)
	}
	if d.CPU == nil || *d.CPU.Burst != 0 || d.CPU.Cpus != "0-1" || *d.CPU.Idle != 0 {
		t.Errorf("cpu delta wrong: %+v", d.CPU)
	}
	if d.Pids == nil || *d.Pids.Limit != -1 {
		t.Errorf("pids delta wrong: %+v", d.Pids)
	}
	if d.Network != nil {
		t.Errorf("network classID 0 kept: %+v", d.Network)
	}
	// The input is not aliased.
	*d.Memory.Limit = 5
	if *r.Memory.Limit != -1 {
		t.Error("UpdateDelta aliases its input")
	}
}

func TestMergeResources(t *testing.T) {
	dst := &specs.LinuxResources{
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:         &specs.LinuxMemory{Limit: ptr(int64(100)), Swap: ptr(int64(200))},
		CPU:            &specs.LinuxCPU{Shares: ptr(uint64(1024)), Cpus: "0-1"},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 10}}},
	}
	d := UpdateDelta(&specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: ptr(int64(300)), Swap: ptr(int64(0))},
		CPU:            &specs.LinuxCPU{Shares: ptr(uint64(0)), Quota: ptr(int64(5000)), Mems: "0"},
		Pids:           &specs.LinuxPids{Limit: ptr(int64(42))},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 7}, {Pagesize: "1GB", Limit: 3}},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(300)), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 20},
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 30}}},
		Unified: map[string]string{"memory.high": "1000"},
		Rdma:    map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr(uint32(3))}},
	})
	MergeResources(dst, d)
	want := &specs.LinuxResources{
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:         &specs.LinuxMemory{Limit: ptr(int64(300)), Swap: ptr(int64(200))},
		CPU:            &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(5000)), Cpus: "0-1", Mems: "0"},
		Pids:           &specs.LinuxPids{Limit: ptr(int64(42))},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 7}, {Pagesize: "1GB", Limit: 3}},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(300)), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 20},
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 30}}},
		Unified: map[string]string{"memory.high": "1000"},
		Rdma:    map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr(uint32(3))}},
	}
	if !reflect.DeepEqual(dst, want) {
		got, _ := json.Marshal(dst)
		exp, _ := json.Marshal(want)
		t.Errorf("merged:\n got %s\nwant %s", got, exp)
	}
}
