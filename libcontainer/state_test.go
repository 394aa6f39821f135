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

// TestStateSeccompProfileApart: linux.seccomp is kept beside state.json, not in it; Seccomp and
// FullConfig find it there, and a state.json with the profile inline (an earlier husk) still loads.
func TestStateSeccompProfileApart(t *testing.T) {
	root := t.TempDir()
	spec := specconv.Example()
	spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: "/run/agent.sock",
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActAllow}}}
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	c := &Container{dir: dir, State: State{ID: "c1", Config: spec, InitPid: 7}}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	if spec.Linux.Seccomp == nil {
		t.Fatal("save changed the caller's spec")
	}
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk struct {
		Config struct {
			Linux map[string]json.RawMessage `json:"linux"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &onDisk); err != nil {
		t.Fatal(err)
	}
	if _, ok := onDisk.Config.Linux["seccomp"]; ok || len(onDisk.Config.Linux) == 0 {
		t.Errorf("state.json linux section %v: want it without seccomp", onDisk.Config.Linux)
	}
	if fi, err := os.Stat(filepath.Join(dir, seccompProfileFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("profile file: %v, %v", fi, err)
	}
	check := func(what string, sc *specs.LinuxSeccomp) {
		t.Helper()
		if !reflect.DeepEqual(sc, spec.Linux.Seccomp) {
			t.Errorf("%s: %+v, want %+v", what, sc, spec.Linux.Seccomp)
		}
	}
	l, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := l.Seccomp()
	if err != nil {
		t.Fatal(err)
	}
	check("Seccomp after Load", sc)
	l2, _ := Load(root, "c1")
	full, err := l2.FullConfig()
	if err != nil {
		t.Fatal(err)
	}
	check("FullConfig", full.Linux.Seccomp)

	// An earlier husk's state.json, profile inline and no profile file.
	if err := os.Remove(filepath.Join(dir, seccompProfileFile)); err != nil {
		t.Fatal(err)
	}
	inline, err := json.Marshal(&State{ID: "c1", Config: spec, InitPid: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), inline, 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if sc, err = old.Seccomp(); err != nil {
		t.Fatal(err)
	}
	check("Seccomp of an inline profile", sc)

	// No profile at all.
	none := &Container{dir: t.TempDir(), State: State{ID: "c2", Config: specconv.Example()}}
	if err := none.save(); err != nil {
		t.Fatal(err)
	}
	if sc, err := none.Seccomp(); err != nil || sc != nil {
		t.Errorf("without a profile: %v, %v", sc, err)
	}
}
