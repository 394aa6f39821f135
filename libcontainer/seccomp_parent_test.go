package libcontainer

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSeccompProgramSaved: exec gets the program create saved in the state directory; a container
// without the file (created by an earlier husk) has its profile compiled again, and one without a
// profile has none.
func TestSeccompProgramSaved(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	profile := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
	spec := &specs.Spec{Process: &specs.Process{NoNewPrivileges: true}, Linux: &specs.Linux{Seccomp: profile}}
	c := &Container{dir: dir, State: State{ID: "c1", Config: spec}}

	compiled, err := c.seccompProgram() // no saved program yet: compiled from the profile
	if err != nil || compiled == nil {
		t.Fatalf("without a saved program: %v, %v", compiled, err)
	}
	if err := saveSeccompProgram(dir, compiled); err != nil {
		t.Fatal(err)
	}
	c.Config = &specs.Spec{} // the saved program must not need the profile
	loaded, err := c.seccompProgram()
	if err != nil || loaded == nil {
		t.Fatalf("saved program: %v, %v", loaded, err)
	}
	if !reflect.DeepEqual(loaded.Filter, compiled.Filter) || loaded.Flags != compiled.Flags || loaded.Notify || loaded.Arch != compiled.Arch {
		t.Errorf("loaded program differs from the saved one")
	}
	if fi, err := os.Stat(filepath.Join(dir, seccompFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("saved program file: %v, %v", fi, err)
	}

	none := &Container{dir: t.TempDir(), State: State{ID: "c2", Config: &specs.Spec{Linux: &specs.Linux{}}}}
	if prog, err := none.seccompProgram(); err != nil || prog != nil {
		t.Errorf("container without a profile: %v, %v", prog, err)
	}
}
