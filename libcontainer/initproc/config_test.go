package initproc

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/specconv"
)

// notInView are the spec fields init never reads, left out of specView and linuxView.
var notInView = map[string]bool{
	"Spec.Solaris": true, "Spec.Windows": true, "Spec.VM": true, "Spec.ZOS": true, "Spec.FreeBSD": true,
	"Linux.Resources": true, "Linux.Seccomp": true, "Linux.IntelRdt": true, "Linux.MemoryPolicy": true,
	"Linux.NetDevices": true,
}

// TestViewCoversSpec fails when runtime-spec grows a field that the views neither carry nor list as
// unused by init: decide which it is.
func TestViewCoversSpec(t *testing.T) {
	check := func(name string, full, view reflect.Type) {
		have := map[string]bool{}
		for i := 0; i < view.NumField(); i++ {
			have[view.Field(i).Name] = true
		}
		for i := 0; i < full.NumField(); i++ {
			f := full.Field(i).Name
			if !have[f] && !notInView[name+"."+f] {
				t.Errorf("%s.%s is neither in init's view of the spec nor listed as unused", name, f)
			}
		}
	}
	check("Spec", reflect.TypeOf(specs.Spec{}), reflect.TypeOf(specView{}))
	check("Linux", reflect.TypeOf(specs.Linux{}), reflect.TypeOf(linuxView{}))
}

// TestDecodeConfig: what the parent sends comes out of decodeConfig whole, but for the fields init
// does not read.
func TestDecodeConfig(t *testing.T) {
	sp := specconv.Example()
	sp.Hostname, sp.Domainname = "h", "d"
	sp.Annotations = map[string]string{"k": "v"}
	sp.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
	sp.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	sp.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 5}}
	sp.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	sp.Linux.RootfsPropagation, sp.Linux.MountLabel = "rslave", "label"
	sp.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{}}
	in := &Config{ID: "x", Bundle: "/b", Rootfs: "/b/rootfs", Spec: sp, HostPid: 9, PreserveFDs: 2,
		CgroupPaths: map[string]string{"memory": "/sys/fs/cgroup/memory/x"}, LateCgroup: true}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Spec.Linux.Resources != nil {
		t.Error("resources decoded: init's view should leave them out")
	}
	want := *sp
	wl := *sp.Linux
	wl.Resources = nil
	want.Linux = &wl
	if !reflect.DeepEqual(out.Spec, &want) {
		t.Errorf("decoded spec differs:\n got %+v\nwant %+v", out.Spec, &want)
	}
	out.Spec, in.Spec = nil, nil
	if !reflect.DeepEqual(out, in) {
		t.Errorf("decoded config differs:\n got %+v\nwant %+v", out, in)
	}
}
