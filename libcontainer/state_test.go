package libcontainer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/specconv"
)

// TestStateConfigView: Load decodes only the configView part of the spec, a save of the loaded
// container writes the whole spec back unchanged, and FullConfig returns all of it.
func TestStateConfigView(t *testing.T) {
	root := t.TempDir()
	spec := specconv.Example()
	spec.Hostname = "view-test"
	spec.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: func() *int64 { v := int64(42); return &v }()}}
	spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"})
	spec.Annotations = map[string]string{"a": "b"}
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	c := &Container{dir: dir, State: State{ID: "c1", Bundle: "/b", Config: spec, InitPid: 7}}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}

	l, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Hostname != "" || l.Config.Linux.Resources != nil || l.Config.Mounts != nil || l.Config.Linux.Seccomp != nil {
		t.Errorf("Load decoded more than the view: hostname %q, resources %v, %d mounts, seccomp %v", l.Config.Hostname,
			l.Config.Linux.Resources, len(l.Config.Mounts), l.Config.Linux.Seccomp)
	}
	sc, err := l.Seccomp()
	if err != nil || sc == nil || sc.ListenerPath != "/run/agent.sock" || l.Config.Linux.Seccomp != sc {
		t.Errorf("Seccomp() = %+v, %v; want the profile, kept in Config", sc, err)
	}
	if !reflect.DeepEqual(l.Config.Process, spec.Process) || !reflect.DeepEqual(l.Config.Linux.Namespaces, spec.Linux.Namespaces) ||
		l.Config.Annotations["a"] != "b" || l.Config.Version != spec.Version {
		t.Errorf("the view lost fields: %+v", l.Config)
	}
	l.InitPid = 8
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	l2, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	full, err := l2.FullConfig()
	if err != nil {
		t.Fatal(err)
	}
	if l2.InitPid != 8 || full.Hostname != "view-test" || *full.Linux.Resources.Pids.Limit != 42 || len(full.Mounts) != len(spec.Mounts) {
		t.Errorf("after a save of the loaded state: pid %d, spec %+v", l2.InitPid, full)
	}
	var a, b map[string]any
	got, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if err := json.Unmarshal(want, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a["config"], b["config"]) {
		t.Errorf("saving a loaded container changed its config:\nbefore %v\nafter  %v", a["config"], b["config"])
	}
}
